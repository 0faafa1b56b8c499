package dev.cascade.router.api;

import dev.cascade.router.config.RateLimit;
import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import io.github.resilience4j.ratelimiter.internal.AtomicRateLimiter;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Optional API keys for {@code Cascade.Generate} and {@code Cascade.SubmitFeedback} ({@code
 * api.keys-file}): a call must carry one of
 * the keys, as {@code authorization: Bearer KEY} or {@code x-api-key: KEY}, or it gets
 * UNAUTHENTICATED. A call carrying both is accepted when either is a key (a gateway may add its
 * own {@code x-api-key} beside the caller's Bearer key), and counted by that key's name. The OpenAI-compatible HTTP door checks the same keys ({@link OpenAiServer}). Generation calls are counted per key in {@code cascade_api_requests_total{key="NAME"}}: the
 * key's name, never the key. The file has one key per line, {@code NAME KEY}, or {@code NAME KEY
 * LIMIT} with the key's own limit on generation calls ({@link RateLimit}: {@code 100/s}, {@code
 * 600/min}, {@code none}), which wins over {@code api.rate-limit}; blank lines and lines starting
 * with {@code #} are skipped; it is read at start and again by {@link #reload}. A generation call
 * over its key's limit is refused, {@code RESOURCE_EXHAUSTED} here and 429 on the HTTP door, and
 * counted in {@code cascade_api_rate_limited_total}; the limit is this router's: each router counts
 * its own calls.
 */
public final class ApiKeys implements ServerInterceptor {

  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> X_API_KEY = Metadata.Key.of("x-api-key", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> RETRY_PUSHBACK_MS = Metadata.Key.of("grpc-retry-pushback-ms",
      Metadata.ASCII_STRING_MARSHALLER);

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ApiKeys.class);

  /** The keys file as read: each key, and each key's own limit from its line. */
  private record Parsed(Map<String, byte[]> keys, Map<String, RateLimit> ownLimits, String digest) {}

  /**
   * What is in force: the keys, each key's limit and each limited key's limiter, shared by both
   * doors; swapped whole by a reload.
   */
  private record Table(Parsed parsed, Map<String, RateLimit> limits, Map<String, RateLimiter> limiters) {}

  private final Path file;
  private volatile Table table;
  private RateLimit byDefault = RateLimit.NONE;
  private Supplier<Long> nanoTime = System::nanoTime;
  private volatile Counter requests;
  private volatile Counter limited;
  private volatile Counter reloads;
  /** The content (digest) or read failure the last reload refused, so that it is logged once, not at every look. */
  private String refusedReason;

  private ApiKeys(Path file, Parsed parsed) {
    this.file = file;
    this.table = table(parsed, null);
  }

  /**
   * Reads the keys file.
   *
   * @param registry where the per-key counter is registered; null: not counted
   * @throws IllegalArgumentException if a line is not {@code NAME KEY} or {@code NAME KEY LIMIT}, a
   *     name repeats, or there is no key
   */
  public static ApiKeys load(Path file, PrometheusRegistry registry) {
    return new ApiKeys(file, parse(file, read(file))).counted(registry);
  }

  private static byte[] read(Path file) {
    try {
      return Files.readAllBytes(file);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new UncheckedIOException("api.keys-file " + file + ": no such file", e);
    } catch (IOException e) {
      throw new UncheckedIOException("api.keys-file " + file + ": " + e.getMessage(), e);
    }
  }

  private static Parsed parse(Path file, byte[] bytes) {
    Map<String, byte[]> keys = new LinkedHashMap<>();
    Map<String, RateLimit> ownLimits = new LinkedHashMap<>();
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new IllegalArgumentException("api.keys-file " + file + " is not UTF-8 text", e);
    }
    int n = 0;
    for (String line : text.split("\\R", -1)) {
      n++;
      String t = line.strip();
      if (t.isEmpty() || t.startsWith("#")) {
        continue;
      }
      String[] parts = t.split("\\s+");
      String where = "api.keys-file " + file + " line " + n + ": ";
      if (parts.length < 2 || parts.length > 3) {
        throw new IllegalArgumentException(where + "expected 'NAME KEY' or 'NAME KEY LIMIT', found " + parts.length
            + (parts.length == 1 ? " field" : " fields") + " (name: 1-64 of A-Z a-z 0-9 _ . -; key: at least 16"
            + " characters; limit: " + RateLimit.FORMS + ")");
      }
      if (!parts[0].matches("[A-Za-z0-9_.-]{1,64}")) {
        throw new IllegalArgumentException(where + "the name (first field) must be 1-64 of A-Z a-z 0-9 _ . -");
      }
      if (parts[1].length() < 16) {
        // The key itself is not repeated in the message: it goes to logs.
        throw new IllegalArgumentException(where + "the key of '" + parts[0] + "' (second field) has "
            + parts[1].length() + " characters; a key needs at least 16");
      }
      byte[] key = parts[1].getBytes(StandardCharsets.UTF_8);
      for (Map.Entry<String, byte[]> e : keys.entrySet()) {
        if (!e.getKey().equals(parts[0]) && MessageDigest.isEqual(e.getValue(), key)) {
          throw new IllegalArgumentException(where + "the key of '" + parts[0] + "' is also the key of '"
              + e.getKey() + "': a key must have one name, which its calls are counted and limited by");
        }
      }
      if (keys.put(parts[0], key) != null) {
        throw new IllegalArgumentException(where + "name '" + parts[0] + "' repeats");
      }
      if (parts.length == 3) {
        try {
          ownLimits.put(parts[0], RateLimit.parse(parts[2]));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("api.keys-file " + file + " line " + n + ": the limit of '" + parts[0]
              + "' " + e.getMessage(), e);
        }
      }
    }
    if (keys.isEmpty()) {
      throw new IllegalArgumentException("api.keys-file " + file + " holds no key");
    }
    return new Parsed(Map.copyOf(keys), Map.copyOf(ownLimits), digest(bytes));
  }

  private static String digest(byte[] bytes) {
    try {
      return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The table of {@code parsed} under the current default limit: a key whose limit is unchanged
   * keeps {@code previous}'s limiter (a reload does not give it a fresh window); the others get a
   * fresh one.
   */
  private Table table(Parsed parsed, Table previous) {
    Map<String, RateLimit> limits = new LinkedHashMap<>();
    Map<String, RateLimiter> limiters = new LinkedHashMap<>();
    for (String name : parsed.keys().keySet()) {
      RateLimit limit = parsed.ownLimits().getOrDefault(name, byDefault);
      limits.put(name, limit);
      if (!limit.limits()) {
        continue;
      }
      RateLimiter kept = previous == null || !limit.equals(previous.limits().get(name)) ? null
          : previous.limiters().get(name);
      limiters.put(name, kept != null ? kept : RateLimiter.of("api-key-" + name, RateLimiterConfig.custom()
          .limitForPeriod(limit.calls()).limitRefreshPeriod(limit.period()).timeoutDuration(Duration.ZERO).build(),
          nanoTime));
    }
    return new Table(parsed, Map.copyOf(limits), Map.copyOf(limiters));
  }

  /**
   * Limits each key to its own limit from the file or else to {@code byDefault} ({@code
   * api.rate-limit}), with fresh limiters on {@code nanoTime}'s clock, shared by every door given
   * these keys; this, for chaining.
   */
  public synchronized ApiKeys limitedTo(RateLimit byDefault, Supplier<Long> nanoTime) {
    this.byDefault = byDefault;
    this.nanoTime = nanoTime;
    this.table = table(table.parsed(), null);
    return this;
  }

  /** As {@link #limitedTo(RateLimit, Supplier)} on the system clock. */
  public ApiKeys limitedTo(RateLimit byDefault) {
    return limitedTo(byDefault, System::nanoTime);
  }

  /** What a {@link #reload} did. */
  public enum Reload { UNCHANGED, RELOADED, REFUSED }

  /**
   * Reads the file again ({@code api.keys-reload-ms}): when its content changed and it is a valid
   * keys file, its keys and limits are in force from the next call (a removed key is refused at
   * once, an added one accepted; a key whose limit is unchanged keeps its window), logged at INFO
   * by name; when it is not valid (or cannot be read), the keys in force stay, logged at WARN once
   * per content. Counted in {@code cascade_api_keys_reloads_total{result}}.
   */
  public synchronized Reload reload() {
    byte[] bytes = null;
    Parsed parsed;
    try {
      bytes = read(file);
      if (digest(bytes).equals(table.parsed().digest())) {
        refusedReason = null;
        return Reload.UNCHANGED;
      }
      parsed = parse(file, bytes);
    } catch (IllegalArgumentException | UncheckedIOException e) {
      // Once per content refused (its digest), or per reason the file could not be read.
      String seen = bytes == null ? "unreadable: " + e.getMessage() : digest(bytes);
      if (!seen.equals(refusedReason)) {
        refusedReason = seen;
        count(reloads, "refused");
        LOG.warn("{}; the {} read before stay in force", e.getMessage(), keyCount(table.parsed()));
      }
      return Reload.REFUSED;
    }
    refusedReason = null;
    Table before = table;
    Table after = table(parsed, before);
    java.util.Set<String> added = new java.util.TreeSet<>(after.parsed().keys().keySet());
    added.removeAll(before.parsed().keys().keySet());
    java.util.Set<String> removed = new java.util.TreeSet<>(before.parsed().keys().keySet());
    removed.removeAll(after.parsed().keys().keySet());
    java.util.Set<String> changed = new java.util.TreeSet<>();
    for (String name : after.parsed().keys().keySet()) {
      if (before.parsed().keys().containsKey(name)
          && (!MessageDigest.isEqual(before.parsed().keys().get(name), after.parsed().keys().get(name))
              || !after.limits().get(name).equals(before.limits().get(name)))) {
        changed.add(name);
      }
    }
    table = after;
    for (Counter c : new Counter[] {requests, limited}) {
      if (c != null) {
        added.forEach(c::labelValues);
      }
    }
    count(reloads, "reloaded");
    LOG.info("api.keys-file {} reloaded: {}; added {}, removed {}, key or limit changed {}", file,
        keyCount(after.parsed()), added, removed, changed);
    return Reload.RELOADED;
  }

  /**
   * Calls {@link #reload} every {@code every} on a daemon thread, until the returned handle is
   * closed; nothing when {@code every} is zero.
   */
  public AutoCloseable reloadEvery(Duration every) {
    if (every.isZero()) {
      return () -> { };
    }
    java.util.concurrent.ScheduledExecutorService timer = java.util.concurrent.Executors
        .newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "api-keys-reload");
          t.setDaemon(true);
          return t;
        });
    timer.scheduleWithFixedDelay(() -> {
      try {
        reload();
      } catch (RuntimeException e) {
        LOG.warn("api.keys-file {}: reload failed: {}", file, e.toString());
      }
    }, every.toMillis(), every.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    return timer::shutdownNow;
  }

  /** The limit of the key named {@code name} ({@link RateLimit#NONE} when it has none). */
  RateLimit limitOf(String name) {
    return table.limits().getOrDefault(name, RateLimit.NONE);
  }

  /**
   * Takes one generation call from the limit of the key named {@code name}: empty when it may go,
   * else how long until its next window opens (milliseconds, at least 1), counted in {@code
   * cascade_api_rate_limited_total}.
   */
  java.util.OptionalLong refusedForMs(String name) {
    Table t = table;
    RateLimiter limiter = t.limiters().get(name);
    if (limiter == null || limiter.acquirePermission()) {
      return java.util.OptionalLong.empty();
    }
    count(limited, name);
    long nanos = limiter instanceof AtomicRateLimiter atomic ? atomic.getDetailedMetrics().getNanosToWait()
        : t.limits().get(name).period().toNanos();
    return java.util.OptionalLong.of(Math.max(1, (nanos + 999_999) / 1_000_000));
  }

  /** The message of a refusal by {@link #refusedForMs}, naming the key's name, its limit and the wait. */
  String refusal(String name, long waitMs) {
    RateLimit limit = limitOf(name);
    return "API key '" + name + "' is over its limit of " + limit + " generation calls on this router ("
        + (table.parsed().ownLimits().containsKey(name) ? "its line in api.keys-file" : "api.rate-limit")
        + "); retry in " + waitMs
        + " ms";
  }

  /**
   * Counts generation calls by key name in {@code registry} ({@code cascade_api_requests_total},
   * {@code cascade_api_rate_limited_total}) and reloads ({@code cascade_api_keys_reloads_total});
   * null: not counted. For keys read before the registry existed; this, for chaining.
   */
  public synchronized ApiKeys counted(PrometheusRegistry registry) {
    if (registry == null) {
      return this;
    }
    Counter counter = Counter.builder().name("cascade_api_requests_total")
        .help("Cascade.Generate and OpenAI-compatible HTTP generation calls by API key name (api.keys-file),"
            + " never the key itself")
        .labelNames("key").withoutExemplars().register(registry);
    Counter refused = Counter.builder().name("cascade_api_rate_limited_total")
        .help("Generation calls refused because their API key was over its limit (api.rate-limit, or the key's own"
            + " in api.keys-file), by key name")
        .labelNames("key").withoutExemplars().register(registry);
    Counter reloaded = Counter.builder().name("cascade_api_keys_reloads_total")
        .help("Reloads of api.keys-file whose content had changed, by result: reloaded (in force), refused (not a"
            + " valid keys file, or unreadable: the keys before stay)")
        .labelNames("result").withoutExemplars().register(registry);
    // Every key's series from 0, so unused keys show too.
    table.parsed().keys().keySet().forEach(counter::labelValues);
    table.parsed().keys().keySet().forEach(refused::labelValues);
    reloaded.labelValues("reloaded");
    reloaded.labelValues("refused");
    this.requests = counter;
    this.limited = refused;
    this.reloads = reloaded;
    return this;
  }

  @Override
  public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
      ServerCallHandler<Q, A> next) {
    List<String> presented = presented(headers.get(AUTHORIZATION), headers.get(X_API_KEY));
    if (presented.isEmpty()) {
      return refuse(call, "missing API key: " + notPresented(headers.get(AUTHORIZATION),
          "'authorization: Bearer KEY' or 'x-api-key: KEY' metadata"));
    }
    String name = nameOf(presented);
    if (name == null) {
      return refuse(call, "unknown API key");
    }
    if (call.getMethodDescriptor().getFullMethodName().equals(
        dev.cascade.proto.v1.CascadeGrpc.getGenerateMethod().getFullMethodName())) {
      count(name); // generation calls only: feedback, and any method added later, are not generations
      java.util.OptionalLong waitMs = refusedForMs(name);
      if (waitMs.isPresent()) {
        // gRPC's own pushback trailer: a client retrying by a service config waits that long.
        Metadata trailers = new Metadata();
        trailers.put(RETRY_PUSHBACK_MS, Long.toString(waitMs.getAsLong()));
        call.close(Status.RESOURCE_EXHAUSTED.withDescription(refusal(name, waitMs.getAsLong())), trailers);
        return new ServerCall.Listener<>() {};
      }
    }
    return next.startCall(call, headers);
  }

  /**
   * The keys a caller presented: {@code x-api-key} and the token of {@code authorization: Bearer
   * TOKEN}, each when it is there and not empty; empty when neither is. Used by both doors, gRPC and HTTP.
   */
  static List<String> presented(String authorization, String xApiKey) {
    List<String> presented = new ArrayList<>(2);
    if (xApiKey != null && !xApiKey.isEmpty()) {
      presented.add(xApiKey);
    }
    if (authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
        && !authorization.substring(7).isBlank()) {
      presented.add(authorization.substring(7).strip());
    }
    return presented;
  }

  /**
   * Why {@link #presented} found no key, then {@code accepted} (the forms that work, as the door
   * spells them): "none was sent", or what is wrong with the {@code authorization} value. It never
   * repeats the value, which may be a key: only a scheme that looks like one (letters, as "Basic").
   */
  static String notPresented(String authorization, String accepted) {
    String sent = authorization == null ? "" : authorization.strip();
    int space = sent.indexOf(' ');
    String scheme = space < 0 ? sent : sent.substring(0, space);
    String why;
    if (sent.isEmpty()) {
      why = "none was sent";
    } else if (scheme.equalsIgnoreCase("Bearer")) {
      why = "the authorization Bearer token is empty";
    } else if (space < 0) {
      why = "the authorization value has no scheme (a bare key? put 'Bearer ' before it)";
    } else if (scheme.matches("[A-Za-z]{1,20}")) {
      why = "the authorization scheme is '" + scheme + "', not 'Bearer'";
    } else {
      why = "the authorization value does not start with 'Bearer '";
    }
    return why + "; send " + accepted;
  }

  /**
   * The name of the first presented key (see {@link #presented}) that is a key of the file; null
   * when none is.
   */
  String nameOf(List<String> presented) {
    for (String key : presented) {
      String name = nameOf(key.getBytes(StandardCharsets.UTF_8));
      if (name != null) {
        return name;
      }
    }
    return null;
  }

  /** Counts one call made with the key named {@code name} in {@code cascade_api_requests_total}. */
  void count(String name) {
    count(requests, name);
  }

  private static void count(Counter counter, String label) {
    if (counter != null) {
      counter.labelValues(label).inc();
    }
  }

  private static String keyCount(Parsed parsed) {
    int n = parsed.keys().size();
    return n + (n == 1 ? " key" : " keys");
  }

  /** The name of the key, comparing every key in constant time; null when none matches. */
  private String nameOf(byte[] presented) {
    String match = null;
    for (Map.Entry<String, byte[]> e : table.parsed().keys().entrySet()) {
      if (MessageDigest.isEqual(e.getValue(), presented)) {
        match = e.getKey();
      }
    }
    return match;
  }

  private static <Q, A> ServerCall.Listener<Q> refuse(ServerCall<Q, A> call, String why) {
    call.close(Status.UNAUTHENTICATED.withDescription(why), new Metadata());
    return new ServerCall.Listener<>() {};
  }
}
