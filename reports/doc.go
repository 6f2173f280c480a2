// Package reports turns finished cells of the result store into statistics, leaderboards (Markdown,
// LaTeX, CSV, JSON), figures and regression checks. It reads store.Record values only and never
// needs libtorch.
//
// The pipeline is Build (records → Table: grouping, de-duplication, per-cell statistics, best /
// second / tied marks, average ranks) followed by Render (Table → text in one format) or Plot
// (Table → figure). Regression checks (Baseline, Compare) and the short Leaderboard printed by
// `bench run` are built on the same Table.
//
// Conventions:
//   - Metrics are stored as fractions in [0, 1]; Markdown, LaTeX, figures and the regression
//     table show percentages; CSV and JSON keep the raw fractions at full precision.
//   - "±" is the sample standard deviation over seeds (n − 1 denominator), never the standard
//     error; captions say so and state n.
//   - A cell with no successful seed is shown as "—" and is never averaged around.
//   - "Tied" means not significantly worse than the column's best under a two-sided paired
//     t-test over the seeds both methods share (see PairedTTest), at Options.Alpha, with no
//     correction for multiple comparisons.
package reports
