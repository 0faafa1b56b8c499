package dev.cascade.router.api;

import dev.cascade.router.learning.LearnedRule;
import java.time.Duration;

/**
 * Where PolicyAdmin writes learned rule versions. The routers read them into their rule catalogs;
 * the store does not decide versions or check that a rule fits this router (the admin service does).
 */
interface RuleStore extends AutoCloseable {

  /**
   * Writes {@code rule} under {@code NAME@VERSION} (its info's name and version) and returns once
   * this instance's rule catalog holds that version.
   *
   * @throws RuleStoreException if it cannot be written or does not show up within {@code timeout}
   */
  void publish(LearnedRule rule, Duration timeout);

  @Override
  void close();

  /** A rule could not be written or read back. */
  final class RuleStoreException extends RuntimeException {
    RuleStoreException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
