package dev.cascade.router.escalation;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Where the large model is and which protocol it speaks: the parsed {@code large.target}.
 *
 * <ul>
 *   <li>{@code host:port} or {@code cascade://host:port}: {@code cascade.v1.LargeModel} over gRPC;</li>
 *   <li>{@code kserve://host:port/MODEL}: KServe v2 (Open Inference Protocol), {@code
 *       inference.GRPCInferenceService/ModelInfer} on model MODEL;</li>
 *   <li>{@code openai://host:port[/PATH]?model=NAME} (or {@code openais://} or {@code &tls=true} for
 *       https): an OpenAI-compatible {@code POST PATH/completions}, PATH {@code /v1} by default; with
 *       {@code &api=chat}, {@code POST PATH/chat/completions} instead, the prompt as the one user
 *       message (for a chat model whose server applies its chat template);</li>
 *   <li>{@code anthropic://host:port[/PATH]?model=NAME} (or {@code anthropics://} or {@code &tls=true}
 *       for https): Anthropic's Messages API, {@code POST PATH/messages}, the prompt as the one user
 *       message, PATH {@code /v1} by default.</li>
 * </ul>
 *
 * <p>gRPC targets (cascade, kserve) use TLS when {@code large.tls.trust-store} is set, as before.
 *
 * @param protocol the protocol
 * @param host the host name or address (IPv6 literals without brackets)
 * @param port the port
 * @param model the model name (kserve, openai, anthropic); empty for cascade
 * @param basePath the HTTP path prefix (openai, anthropic), e.g. {@code /v1}; empty otherwise
 * @param tls whether an openai or anthropic target is https (gRPC targets follow {@code large.tls.*})
 * @param chat whether an openai target is asked through its chat endpoint ({@code api=chat})
 */
public record LargeTarget(Protocol protocol, String host, int port, String model, String basePath, boolean tls,
    boolean chat) {

  /** A target asked through its completions endpoint (every protocol but openai's {@code api=chat}). */
  public LargeTarget(Protocol protocol, String host, int port, String model, String basePath, boolean tls) {
    this(protocol, host, port, model, basePath, tls, false);
  }

  /** The protocols a large model is reached by. */
  public enum Protocol {
    CASCADE, KSERVE, OPENAI, ANTHROPIC;

    /** The URI scheme, lower case. */
    public String scheme() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** The accepted forms, for error messages. */
  public static final String FORMS = "host:port, cascade://host:port, kserve://host:port/MODEL,"
      + " openai://host:port/v1?model=NAME (openais:// or &tls=true for https; &api=chat for the chat endpoint),"
      + " anthropic://host:port/v1?model=NAME (anthropics:// or &tls=true for https)";

  /** Parses {@code text}, failing with a {@link ConfigException} on {@code large.target}. */
  public static LargeTarget parse(String text) {
    return parse(CascadeConfig.LARGE_TARGET.name(), text);
  }

  /** Parses {@code text}, failing with a {@link ConfigException} on {@code key}. */
  public static LargeTarget parse(String key, String text) {
    String t = text == null ? "" : text.trim();
    if (t.isEmpty()) {
      throw new ConfigException(key, "is empty; expected one of " + FORMS);
    }
    int sep = t.indexOf("://");
    if (sep < 0) {
      // Backward compatible: a bare host:port is today's cascade.v1.LargeModel.
      URI uri = uri(key, t, "cascade://" + t);
      requireHostPort(key, t, uri);
      if (!isBlank(uri.getRawPath()) || uri.getRawQuery() != null || uri.getRawFragment() != null) {
        throw bad(key, t, "a target without a scheme is host:port alone");
      }
      return new LargeTarget(Protocol.CASCADE, host(uri), uri.getPort(), "", "", false);
    }
    String scheme = t.substring(0, sep).toLowerCase(Locale.ROOT);
    URI uri = uri(key, t, t);
    requireHostPort(key, t, uri);
    if (uri.getRawFragment() != null || uri.getRawUserInfo() != null) {
      throw bad(key, t, "no user info or #fragment");
    }
    String path = uri.getPath() == null ? "" : uri.getPath();
    Map<String, String> query = query(key, t, uri.getRawQuery());
    switch (scheme) {
      case "cascade" -> {
        if (!isBlank(path) && !path.equals("/") || !query.isEmpty()) {
          throw bad(key, t, "cascade://host:port takes no path or query");
        }
        return new LargeTarget(Protocol.CASCADE, host(uri), uri.getPort(), "", "", false);
      }
      case "kserve" -> {
        String model = path.startsWith("/") ? path.substring(1) : path;
        if (model.endsWith("/")) {
          model = model.substring(0, model.length() - 1);
        }
        if (model.isEmpty() || model.contains("/")) {
          throw bad(key, t, "kserve://host:port/MODEL names one model, e.g. kserve://triton:8001/ensemble");
        }
        if (!query.isEmpty()) {
          throw bad(key, t, "kserve:// takes no query (inputs and outputs are large.kserve.* keys)");
        }
        return new LargeTarget(Protocol.KSERVE, host(uri), uri.getPort(), model, "", false);
      }
      case "openai", "openais", "anthropic", "anthropics" -> {
        boolean anthropic = scheme.startsWith("anthropic");
        String plain = anthropic ? "anthropic" : "openai";
        String model = query.getOrDefault("model", "");
        if (model.isBlank()) {
          throw bad(key, t, "an " + plain + " target names its model: " + plain + "://host:port/v1?model=NAME");
        }
        boolean tls = scheme.endsWith("s");
        String tlsParam = query.get("tls");
        if (tlsParam != null) {
          if (!tlsParam.equals("true") && !tlsParam.equals("false")) {
            throw bad(key, t, "tls is true or false");
          }
          tls = tls || tlsParam.equals("true");
        }
        String api = query.getOrDefault("api", "completions");
        if (anthropic && query.containsKey("api")) {
          throw bad(key, t, "an anthropic target speaks the Messages API only: no api parameter");
        }
        if (!api.equals("completions") && !api.equals("chat")) {
          throw bad(key, t, "api is completions (POST /v1/completions, the default) or chat (POST"
              + " /v1/chat/completions), was '" + api + "'");
        }
        for (String name : query.keySet()) {
          if (!name.equals("model") && !name.equals("tls") && !name.equals("api")) {
            throw bad(key, t, "unknown query parameter '" + name + "' (known: model, tls"
                + (anthropic ? "" : ", api") + ")");
          }
        }
        String base = isBlank(path) || path.equals("/") ? "/v1" : path;
        while (base.length() > 1 && base.endsWith("/")) {
          base = base.substring(0, base.length() - 1);
        }
        return new LargeTarget(anthropic ? Protocol.ANTHROPIC : Protocol.OPENAI, host(uri), uri.getPort(), model, base,
            tls, api.equals("chat"));
      }
      default -> throw bad(key, t, "unknown scheme '" + scheme + "'");
    }
  }

  /** The gRPC target string, {@code host:port} (IPv6 in brackets). */
  public String authority() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }

  /** For an openai or anthropic target, the base URL, e.g. {@code http://host:8000/v1}. */
  public URI baseUri() {
    return URI.create((tls ? "https" : "http") + "://" + authority() + basePath);
  }

  @Override
  public String toString() {
    return switch (protocol) {
      case CASCADE -> "cascade://" + authority();
      case KSERVE -> "kserve://" + authority() + "/" + model;
      case OPENAI -> (tls ? "openais" : "openai") + "://" + authority() + basePath + "?model=" + model
          + (chat ? "&api=chat" : "");
      case ANTHROPIC -> (tls ? "anthropics" : "anthropic") + "://" + authority() + basePath + "?model=" + model;
    };
  }

  private static URI uri(String key, String text, String asUri) {
    try {
      return new URI(asUri);
    } catch (URISyntaxException e) {
      throw bad(key, text, "not a URI: " + e.getReason());
    }
  }

  private static void requireHostPort(String key, String text, URI uri) {
    if (uri.getHost() == null || uri.getHost().isEmpty()) {
      throw bad(key, text, "no host");
    }
    if (uri.getPort() < 1 || uri.getPort() > 65_535) {
      throw bad(key, text, "no port (1 to 65535)");
    }
  }

  private static String host(URI uri) {
    String h = uri.getHost();
    return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
  }

  private static Map<String, String> query(String key, String text, String raw) {
    Map<String, String> out = new LinkedHashMap<>();
    if (raw == null || raw.isEmpty()) {
      return out;
    }
    for (String pair : raw.split("&")) {
      if (pair.isEmpty()) {
        continue;
      }
      int eq = pair.indexOf('=');
      String name = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      if (out.put(name, value) != null) {
        throw bad(key, text, "query parameter '" + name + "' given twice");
      }
    }
    return out;
  }

  private static boolean isBlank(String s) {
    return s == null || s.isEmpty();
  }

  private static ConfigException bad(String key, String text, String why) {
    return new ConfigException(key, "'" + text + "' is not a large-model target: " + why + "; expected one of " + FORMS);
  }
}
