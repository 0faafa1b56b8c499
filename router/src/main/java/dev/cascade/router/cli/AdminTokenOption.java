package dev.cascade.router.cli;

import io.grpc.Metadata;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.MetadataUtils;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

/** The {@code --token} of the client commands that write (PolicyAdmin's guarded calls). */
final class AdminTokenOption {

  /** The environment variable that gives the token when neither option does. */
  static final String ENV = "CASCADE_ADMIN_TOKEN";

  @Option(names = "--token", paramLabel = "TOKEN",
      description = "The admin token. Without it and --token-file: the " + ENV + " environment variable.")
  String token;

  @Option(names = "--token-file", paramLabel = "FILE",
      description = "A file holding the admin token (its first line), e.g. the admin-token-file that serve prints;"
          + " it wins over " + ENV + ".")
  java.nio.file.Path tokenFile;

  /** Where the token comes from when no option gives one; the environment outside tests. */
  java.util.function.Function<String, String> environment = System::getenv;

  /**
   * Checks a token was given, before any call is made: {@code --token}, else {@code --token-file},
   * else {@value #ENV}; both options at once are refused.
   *
   * @throws CommandLine.ParameterException if none was, or both options were
   */
  void require(CommandSpec spec) {
    if (token != null && tokenFile != null) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--token and --token-file: give one of them, not both");
    }
    if (tokenFile != null) {
      try {
        token = java.nio.file.Files.readAllLines(tokenFile).stream().map(String::trim).filter(l -> !l.isEmpty())
            .findFirst().orElse("");
      } catch (java.io.IOException e) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "--token-file: " + RuntimeCommand.readProblem(tokenFile, e));
      }
      if (token.isBlank()) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "--token-file: " + tokenFile + " holds no token (it is empty)");
      }
      warnIfOpen(spec.commandLine().getErr());
    } else if (token == null) {
      token = environment.apply(ENV);
    }
    if (token == null || token.isBlank()) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--token: missing (or --token-file FILE, or set CASCADE_ADMIN_TOKEN); 'cascade serve' prints"
              + " admin-token-file=..., 'cascade demo --serve' prints admin-token=...");
    }
  }

  /**
   * Warns on {@code err}, in one line, when the token file is readable by group or others, as ssh
   * does for a private key: anyone who can read it can change the router's policy. Nothing on a
   * file system without POSIX permissions.
   */
  private void warnIfOpen(java.io.PrintWriter err) {
    java.util.Set<java.nio.file.attribute.PosixFilePermission> permissions;
    try {
      permissions = java.nio.file.Files.getPosixFilePermissions(tokenFile);
    } catch (UnsupportedOperationException | java.io.IOException e) {
      return;
    }
    if (permissions.contains(java.nio.file.attribute.PosixFilePermission.GROUP_READ)
        || permissions.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ)) {
      err.println("warning: --token-file " + tokenFile + " is readable by group or others (mode "
          + java.nio.file.attribute.PosixFilePermissions.toString(permissions) + "): whoever can read it can change"
          + " the router's policy and rules; make it owner-only: chmod 600 " + tokenFile);
    }
  }

  /** {@code stub} sending {@code authorization: Bearer <token>} with every call. */
  <S extends AbstractStub<S>> S attachTo(S stub) {
    Metadata headers = new Metadata();
    headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token.trim());
    return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
  }
}
