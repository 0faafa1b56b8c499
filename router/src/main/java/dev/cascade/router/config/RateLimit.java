package dev.cascade.router.config;

import java.time.Duration;
import java.util.Locale;

/**
 * A limit on calls: at most {@code calls} in each window of {@code period}, windows back to back
 * (a fixed window: up to {@code calls} may come at once at the start of one). Written {@code N/s},
 * {@code N/min} or {@code N/h}; {@code none} for no limit ({@link #NONE}).
 *
 * @param calls calls allowed per window; 0 for no limit
 * @param period the window
 */
public record RateLimit(int calls, Duration period) {

  /** No limit. */
  public static final RateLimit NONE = new RateLimit(0, Duration.ofSeconds(1));

  /** What {@link #parse} takes, in words. */
  public static final String FORMS = "N/s, N/min or N/h (N a whole number from 1 to 1000000), or none";

  /**
   * Parses {@code N/s}, {@code N/min}, {@code N/h} (also {@code N/sec}, {@code N/m}, {@code
   * N/hour}) or {@code none}.
   *
   * @throws IllegalArgumentException naming the forms it takes
   */
  public static RateLimit parse(String text) {
    String t = text.strip().toLowerCase(Locale.ROOT);
    if (t.equals("none") || t.isEmpty()) {
      return NONE;
    }
    int slash = t.indexOf('/');
    if (slash < 0) {
      throw new IllegalArgumentException("'" + text + "': expected " + FORMS);
    }
    int calls;
    try {
      calls = Integer.parseInt(t.substring(0, slash).strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("'" + text + "': expected " + FORMS);
    }
    if (calls < 1 || calls > 1_000_000) {
      throw new IllegalArgumentException("'" + text + "': expected " + FORMS);
    }
    Duration period = switch (t.substring(slash + 1).strip()) {
      case "s", "sec", "second" -> Duration.ofSeconds(1);
      case "min", "m", "minute" -> Duration.ofMinutes(1);
      case "h", "hour" -> Duration.ofHours(1);
      default -> throw new IllegalArgumentException("'" + text + "': expected " + FORMS);
    };
    return new RateLimit(calls, period);
  }

  /** Whether this limits anything. */
  public boolean limits() {
    return calls > 0;
  }

  @Override
  public String toString() {
    if (!limits()) {
      return "none";
    }
    return calls + (period.equals(Duration.ofSeconds(1)) ? "/s" : period.equals(Duration.ofMinutes(1)) ? "/min"
        : period.equals(Duration.ofHours(1)) ? "/h" : "/" + period);
  }
}
