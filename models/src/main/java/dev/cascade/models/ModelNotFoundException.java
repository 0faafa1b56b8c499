package dev.cascade.models;

/**
 * A model name that is neither a bundled model nor a directory with a model's files. The message
 * is {@code model: REASON}; {@link #reason()} is the reason alone, for a caller that names the
 * setting or option the name came from instead.
 */
public final class ModelNotFoundException extends IllegalArgumentException {

  private final String reason;

  public ModelNotFoundException(String reason) {
    super("model: " + reason);
    this.reason = reason;
  }

  /** Why the name is not a model, without the {@code model: } prefix. */
  public String reason() {
    return reason;
  }
}
