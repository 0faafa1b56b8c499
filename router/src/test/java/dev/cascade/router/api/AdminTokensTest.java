package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdminTokensTest {

  @TempDir
  Path dir;

  @Test
  void aTokenIsConfiguredReadFromItsFileOrGeneratedIntoAnOwnerOnlyFile() throws Exception {
    Path file = dir.resolve("secret/admin-token");
    CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.ADMIN_TOKEN_FILE, file.toString());
    AdminTokens.Resolved made = AdminTokens.resolve(config);
    assertThat(made.generated()).isTrue();
    assertThat(made.file()).isEqualTo(file);
    assertThat(Files.readString(file).trim()).isEqualTo(made.token()).hasSizeGreaterThan(30);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
    // A restart (or a second instance) reads the same token back.
    AdminTokens.Resolved again = AdminTokens.resolve(config);
    assertThat(again.generated()).isFalse();
    assertThat(again.token()).isEqualTo(made.token());
    // Configured directly, it wins and no file is involved.
    AdminTokens.Resolved configured = AdminTokens.resolve(config.with(CascadeConfig.ADMIN_TOKEN, " s3cret "));
    assertThat(configured.token()).isEqualTo("s3cret");
    assertThat(configured.file()).isNull();
  }

  @Test
  void aMountedSecretIsReadAndAnEmptyOneIsRefused() throws Exception {
    Path mounted = dir.resolve("token");
    Files.writeString(mounted, "\n  from-a-secret  \n");
    CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.ADMIN_TOKEN_FILE, mounted.toString());
    assertThat(AdminTokens.resolve(config).token()).isEqualTo("from-a-secret");
    Files.writeString(mounted, "\n");
    assertThatThrownBy(() -> AdminTokens.resolve(config)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("admin.token-file").hasMessageContaining("holds no token");
  }

  @Test
  void withoutAFileTheTokenLivesInTheStateDirectory() {
    CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.STATE_DIR, dir.toString());
    assertThat(AdminTokens.file(config)).isEqualTo(dir.resolve("admin-token"));
  }
}
