package dev.cascade.router.api;

import dev.cascade.router.policy.DeferralPolicy;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/** A {@link PolicyStore} in memory: publishing sets the current policy and tells the listeners at once. */
final class InMemoryPolicyStore implements PolicyStore {

  final List<DeferralPolicy> published = new CopyOnWriteArrayList<>();
  final List<Consumer<DeferralPolicy>> listeners = new CopyOnWriteArrayList<>();
  private volatile DeferralPolicy current;

  InMemoryPolicyStore(DeferralPolicy initial) {
    this.current = initial;
  }

  @Override
  public DeferralPolicy current() {
    return current;
  }

  @Override
  public void publish(DeferralPolicy policy, Duration timeout) {
    published.add(policy);
    current = policy;
    listeners.forEach(l -> l.accept(policy));
  }

  @Override
  public AutoCloseable subscribe(Consumer<DeferralPolicy> listener) {
    listeners.add(listener);
    return () -> listeners.remove(listener);
  }

  @Override
  public void close() {}
}
