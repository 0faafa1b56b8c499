package dev.cascade.router.api;

import dev.cascade.router.learning.LearnedRule;
import dev.cascade.router.learning.RuleCatalog;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A {@link RuleStore} in memory: publishing adds the rule to the catalog at once, as a router's
 * global store would on reading it back; {@link #failure} makes the next writes fail instead.
 */
final class InMemoryRuleStore implements RuleStore {

  final List<LearnedRule> published = new CopyOnWriteArrayList<>();
  private final RuleCatalog catalog;
  volatile RuntimeException failure;

  InMemoryRuleStore(RuleCatalog catalog) {
    this.catalog = catalog;
  }

  @Override
  public void publish(LearnedRule rule, Duration timeout) {
    if (failure != null) {
      throw new RuleStoreException("cannot write rule " + rule.name() + "@" + rule.info().version() + ": "
          + failure.getMessage(), failure);
    }
    published.add(rule);
    catalog.add(rule);
  }

  @Override
  public void close() {}
}
