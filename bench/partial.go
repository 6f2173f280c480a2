package bench

// partialSuffix is " (NOTE)" when the cell's configuration is not the full method in its epoch
// budget (MethodSpec.Partial, e.g. "dmi (stage 1 only)"), else "".
func (c *Cell) partialSuffix() string {
	ms, err := Methods.Lookup(c.Method)
	if err != nil {
		return ""
	}
	if note := ms.Value.PartialNote(c.MethodParams, c.Train.Epochs); note != "" {
		return " (" + note + ")"
	}
	return ""
}
