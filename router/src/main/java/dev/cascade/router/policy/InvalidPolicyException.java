package dev.cascade.router.policy;

/** A {@link DeferralPolicy} field holds an invalid value. The message names the field and the value. */
public final class InvalidPolicyException extends IllegalArgumentException {
  private final String field;
  private final String problem;
  private final transient Object value;

  InvalidPolicyException(String field, String problem, Object value) {
    super("policy field '" + field + "' " + problem + ", was " + value);
    this.field = field;
    this.problem = problem;
    this.value = value;
  }

  /** The same problem, in the field {@code prefix + field()}: a field of a list entry, say. */
  InvalidPolicyException within(String prefix) {
    return new InvalidPolicyException(prefix + field, problem, value);
  }

  /** The problem under another name for the field (the wire's, say): "NAME: must ..., was VALUE". */
  public String describedAs(String name) {
    return name + ": " + problem + ", was " + value;
  }

  /** The name of the offending field, as in the {@link DeferralPolicy} record. */
  public String field() {
    return field;
  }
}
