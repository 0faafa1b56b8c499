package dev.cascade.router.policy;

/** A {@link DeferralPolicy} field holds an invalid value. The message names the field and the value. */
public final class InvalidPolicyException extends IllegalArgumentException {
  private final String field;

  InvalidPolicyException(String field, String problem, Object value) {
    super("policy field '" + field + "' " + problem + ", was " + value);
    this.field = field;
  }

  /** The name of the offending field, as in the {@link DeferralPolicy} record. */
  public String field() {
    return field;
  }
}
