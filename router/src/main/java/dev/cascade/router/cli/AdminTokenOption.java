package dev.cascade.router.cli;

import io.grpc.Metadata;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.MetadataUtils;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

/** The {@code --token} of the client commands that write (PolicyAdmin's guarded calls). */
final class AdminTokenOption {

  @Option(names = "--token", paramLabel = "TOKEN", defaultValue = "${env:CASCADE_ADMIN_TOKEN}",
      description = "The admin token (default: the CASCADE_ADMIN_TOKEN environment variable).")
  String token;

  /**
   * Checks a token was given, before any call is made.
   *
   * @throws CommandLine.ParameterException if none was
   */
  void require(CommandSpec spec) {
    if (token == null || token.isBlank()) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--token: missing (or set CASCADE_ADMIN_TOKEN); 'cascade demo --serve' prints it as admin-token=...");
    }
  }

  /** {@code stub} sending {@code authorization: Bearer <token>} with every call. */
  <S extends AbstractStub<S>> S attachTo(S stub) {
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token.trim());
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }
}
