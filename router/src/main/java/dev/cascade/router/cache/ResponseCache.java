package dev.cascade.router.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import dev.cascade.models.Generation;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * The small model's recent generations, keyed by prompt and token limit: a repeated prompt within
 * the time-to-live is answered without running the model. A Caffeine cache, bounded in entries,
 * entries expiring a fixed time after they were written, statistics recorded.
 *
 * <p>It caches the small model's {@link Generation}, not the router's answer: a cached generation
 * still goes through the deferral rule and the policy in force, so a policy change applies to
 * cached prompts as to fresh ones, and a cached generation may still be escalated.
 *
 * <p>Thread-safe: one cache is shared by every stream task of a router instance.
 */
public final class ResponseCache {

  /**
   * What a generation depends on besides the model.
   *
   * @param prompt the prompt text
   * @param maxNewTokens the token limit actually applied (the router's default already resolved)
   */
  public record Key(String prompt, int maxNewTokens) {
    public Key {
      Objects.requireNonNull(prompt, "prompt");
    }
  }

  private static final ResponseCache DISABLED = new ResponseCache(null, 0, Duration.ZERO);

  private final Cache<Key, Generation> cache;
  private final long maxEntries;
  private final Duration ttl;

  private ResponseCache(Cache<Key, Generation> cache, long maxEntries, Duration ttl) {
    this.cache = cache;
    this.maxEntries = maxEntries;
    this.ttl = ttl;
  }

  /**
   * A cache of at most {@code maxEntries} generations, each kept for {@code ttl} after it was
   * written; {@code maxEntries == 0} or a zero {@code ttl} gives the {@link #disabled()} cache.
   *
   * @throws IllegalArgumentException if {@code maxEntries} or {@code ttl} is negative
   */
  public static ResponseCache create(long maxEntries, Duration ttl) {
    if (maxEntries < 0) {
      throw new IllegalArgumentException("maxEntries: must be >= 0, was " + maxEntries);
    }
    if (ttl.isNegative()) {
      throw new IllegalArgumentException("ttl: must be >= 0, was " + ttl);
    }
    if (maxEntries == 0 || ttl.isZero()) {
      return DISABLED;
    }
    Cache<Key, Generation> cache = Caffeine.newBuilder()
        .maximumSize(maxEntries)
        .expireAfterWrite(ttl)
        .recordStats()
        .build();
    return new ResponseCache(cache, maxEntries, ttl);
  }

  /** A cache that holds nothing: every lookup misses and nothing is stored or counted. */
  public static ResponseCache disabled() {
    return DISABLED;
  }

  /** Whether this cache stores anything. */
  public boolean enabled() {
    return cache != null;
  }

  /** The cached generation for {@code key}, if one was stored within the time-to-live. */
  public Optional<Generation> get(Key key) {
    return cache == null ? Optional.empty() : Optional.ofNullable(cache.getIfPresent(key));
  }

  /** Stores a fresh generation. */
  public void put(Key key, Generation generation) {
    if (cache != null) {
      cache.put(key, Objects.requireNonNull(generation, "generation"));
    }
  }

  /** Caffeine's statistics (hits, misses, evictions…) since the cache was created; all zero when disabled. */
  public CacheStats stats() {
    return cache == null ? CacheStats.empty() : cache.stats();
  }

  /** The number of entries, approximately (expired entries may still be counted until cleaned up). */
  public long size() {
    return cache == null ? 0 : cache.estimatedSize();
  }

  /** The most entries it holds; 0 when disabled. */
  public long maxEntries() {
    return maxEntries;
  }

  /** How long an entry lives after it was written; zero when disabled. */
  public Duration ttl() {
    return ttl;
  }
}
