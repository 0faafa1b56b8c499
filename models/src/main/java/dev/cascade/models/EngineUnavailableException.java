package dev.cascade.models;

/** The requested inference engine cannot run on this host; the message names what is missing. */
public final class EngineUnavailableException extends RuntimeException {

  private final String engine;

  public EngineUnavailableException(String engine, String message, Throwable cause) {
    super(message, cause);
    this.engine = engine;
  }

  /** The engine that was asked for. */
  public String engine() {
    return engine;
  }
}
