package dev.cascade.router.api;

import dev.cascade.router.policy.DeferralPolicy;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * Where PolicyAdmin reads and writes the live policy. The routers apply whatever it holds; it does
 * not decide versions (the admin service does).
 */
interface PolicyStore extends AutoCloseable {

  /** The policy in force: the latest usable one written, or the configured default before any. */
  DeferralPolicy current();

  /**
   * The highest policy version written so far, usable or not (a record that decodes but is not a
   * valid policy leaves the default in force, and its version is taken): the next version is above
   * it, so no two policies on the topic share one.
   */
  default long highestVersion() {
    return current().version();
  }

  /**
   * Writes {@code policy} and returns once {@link #current()} shows it (or a later one).
   *
   * @throws PolicyStoreException if it cannot be written or does not show up within {@code timeout}
   */
  void publish(DeferralPolicy policy, Duration timeout);

  /**
   * Calls {@code listener} with every policy that comes into force from now on, in order, from a
   * thread of the store's; closing the returned handle stops the calls.
   */
  AutoCloseable subscribe(Consumer<DeferralPolicy> listener);

  @Override
  void close();

  /** A policy could not be written or read back. */
  final class PolicyStoreException extends RuntimeException {
    PolicyStoreException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
