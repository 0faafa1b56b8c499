package dev.cascade.router.api;

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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Optional API keys for {@code Cascade.Generate} and {@code Cascade.SubmitFeedback} ({@code
 * api.keys-file}): a call must carry one of
 * the keys, as {@code authorization: Bearer KEY} or {@code x-api-key: KEY}, or it gets
 * UNAUTHENTICATED. A call carrying both is accepted when either is a key (a gateway may add its
 * own {@code x-api-key} beside the caller's Bearer key), and counted by that key's name. The OpenAI-compatible HTTP door checks the same keys ({@link OpenAiServer}). Generation calls are counted per key in {@code cascade_api_requests_total{key="NAME"}}: the
 * key's name, never the key. The file has one key per line, {@code NAME KEY}; blank lines and lines
 * starting with {@code #} are skipped; it is read once, at start.
 */
public final class ApiKeys implements ServerInterceptor {

  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> X_API_KEY = Metadata.Key.of("x-api-key", Metadata.ASCII_STRING_MARSHALLER);

  private final Map<String, byte[]> keys;
  private final Counter requests;

  private ApiKeys(Map<String, byte[]> keys, Counter requests) {
    this.keys = keys;
    this.requests = requests;
  }

  /**
   * Reads the keys file.
   *
   * @param registry where the per-key counter is registered; null: not counted
   * @throws IllegalArgumentException if a line is not {@code NAME KEY}, a name repeats, or there is no key
   */
  public static ApiKeys load(Path file, PrometheusRegistry registry) {
    Map<String, byte[]> keys = new LinkedHashMap<>();
    try {
      int n = 0;
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        n++;
        String t = line.strip();
        if (t.isEmpty() || t.startsWith("#")) {
          continue;
        }
        String[] parts = t.split("\\s+");
        if (parts.length != 2 || !parts[0].matches("[A-Za-z0-9_.-]{1,64}") || parts[1].length() < 16) {
          throw new IllegalArgumentException("api.keys-file " + file + " line " + n
              + ": expected 'NAME KEY' (name: 1-64 of A-Z a-z 0-9 _ . -; key: at least 16 characters)");
        }
        if (keys.put(parts[0], parts[1].getBytes(StandardCharsets.UTF_8)) != null) {
          throw new IllegalArgumentException("api.keys-file " + file + " line " + n + ": name '" + parts[0]
              + "' repeats");
        }
      }
    } catch (java.nio.file.NoSuchFileException e) {
      throw new UncheckedIOException("api.keys-file " + file + ": no such file", e);
    } catch (IOException e) {
      throw new UncheckedIOException("api.keys-file " + file + ": " + e.getMessage(), e);
    }
    if (keys.isEmpty()) {
      throw new IllegalArgumentException("api.keys-file " + file + " holds no key");
    }
    return new ApiKeys(keys, null).counted(registry);
  }

  /**
   * These keys, counting generation calls by key name in {@code registry} ({@code
   * cascade_api_requests_total}; null: not counted): for keys read before the registry existed.
   */
  public ApiKeys counted(PrometheusRegistry registry) {
    Counter counter = registry == null ? null : Counter.builder().name("cascade_api_requests_total")
        .help("Cascade.Generate and OpenAI-compatible HTTP generation calls by API key name (api.keys-file),"
            + " never the key itself")
        .labelNames("key").withoutExemplars().register(registry);
    if (counter != null) {
      keys.keySet().forEach(counter::labelValues); // every key's series from 0, so unused keys show too
    }
    return new ApiKeys(keys, counter);
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
    if (requests != null) {
      requests.labelValues(name).inc();
    }
  }

  /** The name of the key, comparing every key in constant time; null when none matches. */
  private String nameOf(byte[] presented) {
    String match = null;
    for (Map.Entry<String, byte[]> e : keys.entrySet()) {
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
