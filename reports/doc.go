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
//   - Rows are configurations: records of one label trained with other settings (epochs, learning
//     rate, batch size, momentum, weight decay, optimiser; not threads) or other method
//     hyper-parameters are separate rows, labelled with the settings that differ among the rows of
//     that label ("joint [epochs=5]"). CSV and JSON carry each row's settings; baselines key their
//     groups by them (see Config).
//   - A record whose file lacks the aggregated metric (absent or null; see store.Metrics.Has) is
//     left out, never counted as 0, and counted in a note ("2 records without test acc excluded").
//   - "Tied" means not significantly worse than the column's best under a two-sided paired
//     t-test over the seeds both methods share (see PairedTTest), at Options.Alpha, with no
//     correction for multiple comparisons.
package reports
