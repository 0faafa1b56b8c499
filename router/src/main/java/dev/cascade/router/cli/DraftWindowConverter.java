package dev.cascade.router.cli;

import dev.cascade.models.DraftWindow;
import picocli.CommandLine;

/**
 * Reads a {@code --draft-window} option ({@link DraftWindow#parse}); a bad value is refused before
 * the command runs, with picocli's "Invalid value for option" line and the reason.
 */
final class DraftWindowConverter implements CommandLine.ITypeConverter<DraftWindow> {

  @Override
  public DraftWindow convert(String value) {
    try {
      return DraftWindow.parse(value);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.TypeConversionException(e.getMessage());
    }
  }
}
