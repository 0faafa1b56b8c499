package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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
  void instancesStartingTogetherAllGetTheOneTokenThatWasWritten() throws Exception {
    // Two routers given one token file and started at once (the fault harness does this): the one
    // that loses the race must read the winner's whole token, never an empty file.
    for (int round = 0; round < 20; round++) {
      Path file = dir.resolve("race-" + round + "/token");
      CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.ADMIN_TOKEN_FILE, file.toString());
      int threads = 8;
      CyclicBarrier start = new CyclicBarrier(threads);
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      try {
        List<Future<AdminTokens.Resolved>> results = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
          results.add(pool.submit(() -> {
            start.await();
            return AdminTokens.resolve(config);
          }));
        }
        Set<String> tokens = new HashSet<>();
        int generated = 0;
        for (Future<AdminTokens.Resolved> r : results) {
          tokens.add(r.get().token());
          generated += r.get().generated() ? 1 : 0;
        }
        assertThat(tokens).hasSize(1);
        assertThat(generated).isEqualTo(1);
        assertThat(Files.readString(file).trim()).isEqualTo(tokens.iterator().next());
        try (var left = Files.list(file.getParent())) {
          assertThat(left).containsExactly(file); // no staged file left behind
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Test
  void withoutAFileTheTokenLivesInTheStateDirectory() {
    CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.STATE_DIR, dir.toString());
    assertThat(AdminTokens.file(config)).isEqualTo(dir.resolve("admin-token"));
  }
}
