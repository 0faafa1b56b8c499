package dev.cascade.router.escalation;

import dev.cascade.models.server.GrpcTls;
import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.net.ssl.SSLContext;

/** Opens the {@link LargeModelTransport} a {@link LargeTarget} names. */
public final class LargeModelTransports {

  private LargeModelTransports() {}

  /**
   * What a transport needs besides the target.
   *
   * @param grpcCredentials credentials of gRPC channels (cascade, kserve): TLS or plaintext
   * @param tensors KServe tensor names
   * @param apiKey the OpenAI-compatible server's API key; empty for none
   * @param sslContext TLS context for https (openais), or null for the JVM's default
   */
  public record Options(ChannelCredentials grpcCredentials, KServeTransport.Tensors tensors, String apiKey,
      SSLContext sslContext) {

    /** Plaintext, default tensor names, no API key. */
    public static Options plaintext() {
      return of(InsecureChannelCredentials.create());
    }

    /** The given gRPC credentials, default tensor names, no API key. */
    public static Options of(ChannelCredentials credentials) {
      return new Options(credentials, KServeTransport.Tensors.DEFAULT, "", null);
    }

    /** From the configuration: {@code large.tls.*}, {@code large.kserve.*}, {@code large.openai.api-key-file}. */
    public static Options from(CascadeConfig config) {
      return from(config, GrpcTls.Opened.of(GrpcTls.Store.of(config.get(CascadeConfig.LARGE_TLS_KEY_STORE),
          config.get(CascadeConfig.LARGE_TLS_KEY_STORE_PASSWORD)),
          GrpcTls.Store.of(config.get(CascadeConfig.LARGE_TLS_TRUST_STORE),
              config.get(CascadeConfig.LARGE_TLS_TRUST_STORE_PASSWORD))));
    }

    /**
     * As {@link #from(CascadeConfig)}, with the {@code large.tls.*} stores already read ({@code tls}):
     * the gRPC credentials and the HTTP clients' TLS context share that one reading.
     */
    public static Options from(CascadeConfig config, GrpcTls.Opened tls) {
      return new Options(GrpcTls.client(tls),
          new KServeTransport.Tensors(config.get(CascadeConfig.LARGE_KSERVE_TEXT_INPUT),
              config.get(CascadeConfig.LARGE_KSERVE_TEXT_OUTPUT), config.get(CascadeConfig.LARGE_KSERVE_MAX_TOKENS_INPUT)),
          apiKey(config.get(CascadeConfig.LARGE_OPENAI_API_KEY_FILE)),
          GrpcTls.clientContext(tls));
    }

    private static String apiKey(String file) {
      if (file.isBlank()) {
        return "";
      }
      try {
        String key = Files.readString(Path.of(file), StandardCharsets.UTF_8).strip();
        if (key.isEmpty() || key.contains("\n")) {
          throw new ConfigException(CascadeConfig.LARGE_OPENAI_API_KEY_FILE.name(),
              file + " must hold one API key on one line");
        }
        return key;
      } catch (IOException e) {
        throw new ConfigException(CascadeConfig.LARGE_OPENAI_API_KEY_FILE.name(), "cannot read " + file + ": " + e);
      }
    }
  }

  /** A transport to {@code target}, owning its channel or HTTP client. */
  public static LargeModelTransport open(LargeTarget target, Options options) {
    return switch (target.protocol()) {
      case CASCADE -> new CascadeTransport(channel(target, options), true);
      case KSERVE -> new KServeTransport(channel(target, options), true, target.model(), options.tensors());
      case OPENAI -> new OpenAiTransport(target.baseUri(), target.model(), options.apiKey(),
          target.tls() ? options.sslContext() : null, target.chat());
      case ANTHROPIC -> new OpenAiTransport(target.baseUri(), target.model(), options.apiKey(),
          target.tls() ? options.sslContext() : null, OpenAiTransport.Api.MESSAGES);
    };
  }

  /** Shuts a gRPC channel down, waiting up to 5 s for its calls to end. */
  static void shutdown(ManagedChannel channel) {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static ManagedChannel channel(LargeTarget target, Options options) {
    return NettyChannelBuilder.forTarget(target.authority(), options.grpcCredentials()).build();
  }
}
