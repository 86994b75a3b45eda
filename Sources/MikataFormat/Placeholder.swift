package enum FormatPlaceholder {}
