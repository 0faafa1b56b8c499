package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
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
    Files.setPosixFilePermissions(mounted, PosixFilePermissions.fromString("r--------"));
    CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.ADMIN_TOKEN_FILE, mounted.toString());
    assertThat(AdminTokens.resolve(config).token()).isEqualTo("from-a-secret");
    Files.setPosixFilePermissions(mounted, PosixFilePermissions.fromString("rw-------"));
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

  private static Set<PosixFilePermission> mode(String rwx) {
    return PosixFilePermissions.fromString(rwx);
  }

  @Test
  void aPlantedFileAtTheDefaultLocationIsRefusedNotTrusted() throws Exception {
    // The probe's attack: state.dir and admin.token-file empty, someone pre-makes the token file.
    CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.STATE_DIR, dir.toString());
    Path planted = dir.resolve("admin-token");
    Files.writeString(planted, "attackerknowsthis\n");
    Files.setPosixFilePermissions(planted, mode("rw-r--r--"));
    assertThatThrownBy(() -> AdminTokens.resolve(config)).isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("admin.token-file: is empty, and the token file the router chose, " + planted)
        .hasMessageContaining("open to group or others (mode rw-r--r--)")
        .hasMessageContaining("remove it, or set admin.token-file or state.dir")
        .hasMessageNotContaining("attackerknowsthis");
    // A symbolic link there is refused too, even to an owner-only file.
    Files.delete(planted);
    Path elsewhere = Files.writeString(dir.resolve("elsewhere"), "attackerknowsthis\n");
    Files.setPosixFilePermissions(elsewhere, mode("rw-------"));
    Files.createSymbolicLink(planted, elsewhere);
    assertThatThrownBy(() -> AdminTokens.resolve(config)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("is a symbolic link");
    // So is a dangling one (it would otherwise send the new token wherever it points).
    Files.delete(planted);
    Files.createSymbolicLink(planted, dir.resolve("nowhere"));
    assertThatThrownBy(() -> AdminTokens.resolve(config)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("is a symbolic link");
    assertThat(dir.resolve("nowhere")).doesNotExist();
    // The router's own owner-only file (a restart) is read back.
    Files.delete(planted);
    AdminTokens.Resolved made = AdminTokens.resolve(config);
    assertThat(made.generated()).isTrue();
    assertThat(AdminTokens.resolve(config).token()).isEqualTo(made.token());
  }

  @Test
  void aNamedFileOpenToGroupOrOthersIsRefusedAndAnOwnerOnlyOneRead() throws Exception {
    Path file = Files.writeString(dir.resolve("token"), "t0ken\n");
    CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.ADMIN_TOKEN_FILE, file.toString());
    for (String open : new String[] {"rw-r--r--", "rw-r-----", "rw--w----", "rw-----w-", "r-----r--"}) {
      Files.setPosixFilePermissions(file, mode(open));
      assertThatThrownBy(() -> AdminTokens.resolve(config)).as(open).isInstanceOf(ConfigException.class)
          .hasMessage("admin.token-file: " + file + " is open to group or others (mode " + open
              + "); make it owner-only: chmod 600 (see SECURITY.md)");
    }
    for (String ownerOnly : new String[] {"rw-------", "r--------"}) {
      Files.setPosixFilePermissions(file, mode(ownerOnly));
      assertThat(AdminTokens.resolve(config).token()).as(ownerOnly).isEqualTo("t0ken");
    }
    // A link to it that the router's user made (as an operator would) is followed.
    Path link = Files.createSymbolicLink(dir.resolve("link"), file);
    assertThat(AdminTokens.resolve(config.with(CascadeConfig.ADMIN_TOKEN_FILE, link.toString())).token())
        .isEqualTo("t0ken");
  }

  @Test
  void aFileOwnedBySomeoneElseIsRefused() throws Exception {
    Assumptions.assumeTrue(AdminTokens.selfUid() == 0, "needs root to give a file away");
    Path file = Files.writeString(dir.resolve("token"), "t0ken\n");
    Files.setPosixFilePermissions(file, mode("rw-------"));
    Files.setAttribute(file, "unix:uid", 65534);
    CascadeConfig config = CascadeConfig.defaults().with(CascadeConfig.ADMIN_TOKEN_FILE, file.toString());
    assertThatThrownBy(() -> AdminTokens.resolve(config)).isInstanceOf(ConfigException.class)
        .hasMessageContaining("is owned by uid 65534, not by the router's user (uid 0)");
  }

  @Test
  void theRuleAcceptsTheRoutersOwnFileAndRootsSecretOnAReadOnlyMountOnly() {
    long self = 1000;
    var own = new AdminTokens.Facts(false, -1, self, true, mode("rw-------"), false);
    assertThat(AdminTokens.problem(own, false, self)).isNull();
    assertThat(AdminTokens.problem(own, true, self)).isNull();
    // A Kubernetes Secret volume: root's 0644 file behind root's symbolic links, on a read-only mount.
    var secret = new AdminTokens.Facts(true, 0, 0, true, mode("rw-r--r--"), true);
    assertThat(AdminTokens.problem(secret, true, self)).isNull();
    assertThat(AdminTokens.problem(secret, true, 0)).as("a router running as root").isNull();
    assertThat(AdminTokens.problem(new AdminTokens.Facts(false, -1, 0, true, mode("r--r-----"), true), true, self))
        .as("fsGroup, defaultMode 0440").isNull();
    // Not at the location the router chooses itself.
    assertThat(AdminTokens.problem(secret, false, self)).contains("symbolic link");
    assertThat(AdminTokens.problem(new AdminTokens.Facts(false, -1, 0, true, mode("rw-r--r--"), true), false, self))
        .contains("owned by uid 0");
    // Root's file on a writable file system, or one group or others may write, or a link someone else made.
    assertThat(AdminTokens.problem(new AdminTokens.Facts(true, 0, 0, true, mode("rw-r--r--"), false), true, self))
        .contains("owned by uid 0, not by the router's user (uid 1000) (or by root on a read-only mount");
    assertThat(AdminTokens.problem(new AdminTokens.Facts(true, 0, 0, true, mode("rw-rw-r--"), true), true, self))
        .contains("owned by uid 0");
    assertThat(AdminTokens.problem(new AdminTokens.Facts(true, 1001, 0, true, mode("rw-r--r--"), true), true, self))
        .contains("symbolic link owned by uid 1001");
    // Someone else's owner-only file, and a directory.
    assertThat(AdminTokens.problem(new AdminTokens.Facts(false, -1, 1001, true, mode("rw-------"), false), true,
        self)).contains("owned by uid 1001");
    assertThat(AdminTokens.problem(new AdminTokens.Facts(false, -1, self, false, mode("rwx------"), false), true,
        self)).contains("not a regular file");
  }
}
