package dev.cascade.models;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;

/** Why text is not the JSON expected, in words for a user: Jackson's message without its internals. */
public final class JsonProblem {

  private JsonProblem() {}

  /**
   * Jackson's message without where in its source it was (say it with {@link #at}) or the names of
   * its settings ({@code [Source: REDACTED (StreamReadFeature...)]}); text after the value is
   * "more than one JSON value".
   */
  public static String of(JsonProcessingException e) {
    String message = e.getOriginalMessage() == null ? "" : e.getOriginalMessage();
    if (message.startsWith("Trailing token")) {
      return "more than one JSON value";
    }
    int source = message.indexOf(" (start marker at [Source:");
    if (source < 0) {
      source = message.indexOf("[Source:");
    }
    if (source >= 0) {
      message = message.substring(0, source);
    }
    int newline = message.indexOf('\n');
    if (newline >= 0) {
      message = message.substring(0, newline);
    }
    message = message.strip();
    return message.isEmpty() ? e.getClass().getSimpleName() : message;
  }

  /** {@code " at line L, column C"} where Jackson knows it; empty otherwise. */
  public static String at(JsonProcessingException e) {
    JsonLocation where = e.getLocation();
    return where == null || where.getLineNr() < 1 ? ""
        : " at line " + where.getLineNr() + ", column " + where.getColumnNr();
  }
}
