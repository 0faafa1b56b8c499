package dev.cascade.router.api;

import dev.cascade.proto.v1.GetPolicyRequest;
import dev.cascade.proto.v1.Policy;
import dev.cascade.proto.v1.PolicyAdminGrpc;
import dev.cascade.proto.v1.UpdatePolicyRequest;
import dev.cascade.proto.v1.WatchPolicyRequest;
import dev.cascade.router.policy.DeferralPolicy;
import dev.cascade.router.policy.InvalidPolicyException;
import dev.cascade.router.learning.RuleResolver;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;

/**
 * {@code cascade.v1.PolicyAdmin}: reads and changes the live deferral policy. Changes go to the
 * policy topic, which every router instance reads as a global table. The admin token is checked
 * before {@link #updatePolicy} runs, by {@link AdminTokenInterceptor}.
 *
 * <p>Versions: an update gets the version in force on this instance plus one. Updates through one
 * instance are serialized; two instances updating at the same moment can give the same version
 * (the later write wins on the topic), so let one operator tool write at a time.
 */
final class PolicyAdminService extends PolicyAdminGrpc.PolicyAdminImplBase {

  private static final Duration PUBLISH_TIMEOUT = Duration.ofSeconds(10);

  private final PolicyStore store;
  private final RuleResolver rules;
  private final Clock clock;
  private final Object updates = new Object();
  private final Set<PolicyWatch> watches = new CopyOnWriteArraySet<>();

  PolicyAdminService(PolicyStore store, RuleResolver rules, Clock clock) {
    this.store = store;
    this.rules = rules;
    this.clock = clock;
  }

  /** Returns the policy in force. */
  @Override
  public void getPolicy(GetPolicyRequest request, StreamObserver<Policy> observer) {
    observer.onNext(ApiRecords.toProto(store.current()));
    observer.onCompleted();
  }

  /**
   * Validates the policy ({@code INVALID_ARGUMENT} naming the field; {@code FAILED_PRECONDITION}
   * when a rule it names was made for another small model, naming both fingerprints), gives it the
   * next version, the caller and the time, writes it to the policy topic and returns it once this
   * instance reads it back. A rule may also be given with its level in the name, e.g. {@code
   * chow-quantile-0.1}, or with its version, e.g. {@code posthoc-quantile@7}.
   */
  @Override
  public void updatePolicy(UpdatePolicyRequest request, StreamObserver<Policy> observer) {
    if (!request.hasPolicy()) {
      observer.onError(Status.INVALID_ARGUMENT.withDescription("policy: missing").asRuntimeException());
      return;
    }
    Policy asked = request.getPolicy();
    try {
      asked = withRuleNameSplit(asked);
    } catch (IllegalArgumentException e) {
      String field = e.getMessage() != null && e.getMessage().startsWith("alpha") ? "alpha" : "rule";
      observer.onError(Status.INVALID_ARGUMENT.withDescription("policy." + field + ": " + e.getMessage())
          .asRuntimeException());
      return;
    }
    String caller = AdminTokenInterceptor.CALLER.get();
    DeferralPolicy next;
    synchronized (updates) {
      try {
        next = ApiRecords.fromProto(asked, store.current().version() + 1, caller == null ? "admin" : caller,
            clock.millis());
      } catch (InvalidPolicyException e) {
        observer.onError(Status.INVALID_ARGUMENT.withDescription("policy." + ApiRecords.protoField(e.field()) + ": "
            + e.getMessage()).asRuntimeException());
        return;
      }
      try {
        rules.check(next);
      } catch (RuleResolver.RuleUnavailableException e) {
        Status status = e.problem() == RuleResolver.Problem.OTHER_MODEL ? Status.FAILED_PRECONDITION
            : Status.INVALID_ARGUMENT;
        observer.onError(status.withDescription("policy.rule: " + e.getMessage()).asRuntimeException());
        return;
      } catch (IllegalArgumentException e) {
        String field = e.getMessage() != null && e.getMessage().startsWith("alpha") ? "alpha" : "rule";
        observer.onError(Status.INVALID_ARGUMENT.withDescription("policy." + field + ": " + e.getMessage())
            .asRuntimeException());
        return;
      }
      try {
        store.publish(next, PUBLISH_TIMEOUT);
      } catch (PolicyStore.PolicyStoreException e) {
        observer.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).withCause(e).asRuntimeException());
        return;
      }
    }
    observer.onNext(ApiRecords.toProto(next));
    observer.onCompleted();
  }

  /**
   * Streams every policy that comes into force from now on (the current one first when asked),
   * until the caller cancels. A watcher that reads slower than policies change gets the latest
   * one when it is ready again, not a backlog of stale ones.
   */
  @Override
  public void watchPolicy(WatchPolicyRequest request, StreamObserver<Policy> observer) {
    PolicyWatch watch = new PolicyWatch((ServerCallStreamObserver<Policy>) observer);
    watches.add(watch);
    AutoCloseable subscription = store.subscribe(p -> watch.offer(ApiRecords.toProto(p)));
    watch.onEnd(() -> {
      watches.remove(watch);
      try {
        subscription.close();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    if (request.getIncludeCurrent()) {
      watch.offer(ApiRecords.toProto(store.current()));
    }
  }

  /** Ends every open watch (the server is stopping). */
  void completeWatches() {
    watches.forEach(PolicyWatch::complete);
  }

  private Policy withRuleNameSplit(Policy p) {
    if (rules.names().contains(p.getRule()) || p.getRule().isBlank()) {
      return p;
    }
    RuleResolver.Spec parsed = rules.parse(p.getRule());
    if (parsed.version() != null) {
      if (p.hasRuleVersion() && p.getRuleVersion() != parsed.version()) {
        throw new IllegalArgumentException("rule_version " + p.getRuleVersion() + " contradicts the version in rule name '"
            + p.getRule() + "'");
      }
      return p.toBuilder().setRule(parsed.name()).setRuleVersion(parsed.version()).build();
    }
    if (p.getAlpha() != 0.0 && p.getAlpha() != parsed.alpha()) {
      throw new IllegalArgumentException("alpha " + p.getAlpha() + " contradicts the level in rule name '"
          + p.getRule() + "'");
    }
    return p.toBuilder().setRule(parsed.name()).setAlpha(parsed.alpha()).build();
  }
}
