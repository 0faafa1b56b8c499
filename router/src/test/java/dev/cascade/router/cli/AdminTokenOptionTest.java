package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Where a client command's admin token comes from: {@code --token}, else {@code --token-file},
 * else {@code CASCADE_ADMIN_TOKEN}; both options at once, or an empty file, are refused by name.
 */
class AdminTokenOptionTest {

  @TempDir
  Path dir;

  private final CommandSpec spec = new CommandLine(CommandSpec.create()).getCommandSpec();

  private AdminTokenOption option(String token, Path file, String environment) {
    AdminTokenOption option = new AdminTokenOption();
    option.token = token;
    option.tokenFile = file;
    option.environment = Map.of(AdminTokenOption.ENV, environment == null ? "" : environment)::get;
    return option;
  }

  @Test
  void anOptionWinsOverTheEnvironmentAndTheEnvironmentServesWithoutOne() throws Exception {
    Path file = Files.writeString(dir.resolve("token"), "\nfrom-file\n"); // its first non-empty line
    AdminTokenOption fromFile = option(null, file, "from-env");
    fromFile.require(spec);
    assertThat(fromFile.token).isEqualTo("from-file");

    AdminTokenOption fromFlag = option("from-flag", null, "from-env");
    fromFlag.require(spec);
    assertThat(fromFlag.token).isEqualTo("from-flag");

    AdminTokenOption fromEnv = option(null, null, "from-env");
    fromEnv.require(spec);
    assertThat(fromEnv.token).isEqualTo("from-env");
  }

  @Test
  void bothOptionsAnEmptyFileOrNoTokenAtAllAreRefusedByName() throws Exception {
    Path file = Files.writeString(dir.resolve("token"), "t");
    assertThatThrownBy(() -> option("t", file, null).require(spec))
        .isInstanceOf(CommandLine.ParameterException.class)
        .hasMessage("--token and --token-file: give one of them, not both");
    Path empty = Files.writeString(dir.resolve("empty"), " \n");
    assertThatThrownBy(() -> option(null, empty, "from-env").require(spec))
        .hasMessage("--token-file: " + empty + " holds no token (it is empty)");
    assertThatThrownBy(() -> option(null, null, null).require(spec)).hasMessageStartingWith("--token: missing");
  }
}
