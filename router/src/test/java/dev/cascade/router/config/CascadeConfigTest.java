package dev.cascade.router.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CascadeConfigTest {

  @TempDir
  Path dir;

  @Test
  void defaultsAreValid() {
    CascadeConfig config = CascadeConfig.defaults();
    assertThat(config.get(CascadeConfig.BATCH_SIZE)).isEqualTo(32);
    assertThat(config.topics().policy()).isEqualTo("cascade.policy");
    assertThat(config.topics().all()).hasSize(8).doesNotHaveDuplicates();
  }

  @Test
  void laterSourcesOverrideEarlierOnes() throws Exception {
    Path file = dir.resolve("cascade.properties");
    Files.writeString(file, "small.batch.size=8\nsmall.batch.wait-ms=3\npolicy.threshold=0.5\nkafka.security.protocol=SSL\n");
    CascadeConfig config = CascadeConfig.load(file,
        Map.of("CASCADE_SMALL_BATCH_WAIT_MS", "4", "CASCADE_POLICY_THRESHOLD", "0.6", "PATH", "/bin"),
        Map.of("policy.threshold", "0.7"));
    assertThat(config.get(CascadeConfig.BATCH_SIZE)).isEqualTo(8);
    assertThat(config.get(CascadeConfig.BATCH_WAIT_MS)).isEqualTo(4);
    assertThat(config.get(CascadeConfig.POLICY_THRESHOLD)).isEqualTo(0.7);
    assertThat(config.kafkaOverrides()).containsEntry("security.protocol", "SSL");
  }

  @Test
  void largeParametersTakeCountsWithOrWithoutASuffix() {
    CascadeConfig config = CascadeConfig.load(null, Map.of(), Map.of("large.parameters", "791656, 1.5B,70b,0,2T,12k"));
    assertThat(config.get(CascadeConfig.LARGE_PARAMETERS)).containsExactly(791_656L, 1_500_000_000L,
        70_000_000_000L, 0L, 2_000_000_000_000L, 12_000L);
    assertThat(CascadeConfig.defaults().get(CascadeConfig.LARGE_PARAMETERS)).isEmpty();
    for (String bad : List.of("7B,seven", "7B,,70B", "-1", "7X", "2000T")) {
      assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("large.parameters", bad)))
          .isInstanceOf(ConfigException.class)
          .hasMessageStartingWith("large.parameters: entry ")
          .hasMessageContaining("is not a count of parameters")
          .hasMessageEndingWith("(from the command line)");
    }
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("large.parameters", "7B,seven")))
        .hasMessageStartingWith("large.parameters: entry 2 'seven' is not a count");
  }

  @Test
  void learnTierRulesTakeClosedFormRuleNamesOnceEach() {
    CascadeConfig config = CascadeConfig.load(null, Map.of(),
        Map.of("learn.tier-rules", "chow-average, chow-quantile-0.1,chow-average,chow-quantile-0"));
    assertThat(config.get(CascadeConfig.LEARN_TIER_RULES)).containsExactly("chow-average", "chow-quantile-0.1",
        "chow-quantile");
    assertThat(CascadeConfig.defaults().get(CascadeConfig.LEARN_TIER_RULES)).isEmpty();
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("learn.tier-rules", "chow-sum,posthoc-embed")))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("learn.tier-rules: entry 2 ('posthoc-embed'): rule")
        .hasMessageContaining("chow-average");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("learn.tier-rules", "chow-quantile-1.5")))
        .hasMessageStartingWith("learn.tier-rules: entry 1 ('chow-quantile-1.5'): alpha");
  }

  @Test
  void badValueNamesTheKeyAndTheSource() {
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_SMALL_BATCH_SIZE", "0"), Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("small.batch.size")
        .hasMessageContaining("CASCADE_SMALL_BATCH_SIZE")
        .hasMessageContaining("1 to 1024");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("policy.alpha", "abc")))
        .isInstanceOf(ConfigException.class)
        .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("policy.alpha"));
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("model.engine", "cuda")))
        .hasMessageContaining("model.engine").hasMessageContaining("TensorRT");
  }

  @Test
  void aKafkaSettingTheClientRefusesNamesTheKafkaKeyAndTheSourceAsTheConfigurationLoads() throws Exception {
    Path file = dir.resolve("kafka.properties");
    Files.writeString(file, "kafka.linger.ms=abc\n");
    assertThatThrownBy(() -> CascadeConfig.load(file, Map.of(), Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("kafka.linger.ms: refused by the Kafka client: ")
        .hasMessageContaining("abc")
        .hasMessageEndingWith("(from file " + file + ")");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("kafka.acks", "some")))
        .hasMessageStartingWith("kafka.acks: ").hasMessageEndingWith("(from the command line)");
    // The admin client's rule across two settings, with the value of either taken into account.
    assertThat(CascadeConfig.load(null, Map.of(),
        Map.of("kafka.default.api.timeout.ms", "1000", "kafka.request.timeout.ms", "500", "kafka.linger.ms", "5"))
        .kafkaOverrides()).containsEntry("default.api.timeout.ms", "1000");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("kafka.default.api.timeout.ms", "1000")))
        .isInstanceOf(ConfigException.class)
        .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("kafka.default.api.timeout.ms"))
        .hasMessageContaining("kafka.request.timeout.ms (30000)").hasMessageEndingWith("(from the command line)");
    // A setting no client knows is a plugin's: passed on as it is.
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("kafka.my.plugin.setting", "x")).kafkaOverrides())
        .containsEntry("my.plugin.setting", "x");
    // ... unless it is a slip of a client's setting.
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("kafka.comit.interval.ms", "20")))
        .isInstanceOf(ConfigException.class)
        .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("kafka.comit.interval.ms"))
        .hasMessageContaining("did you mean kafka.commit.interval.ms?").hasMessageContaining("(from the command line;");
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("kafka.producer.lingr.ms", "5")).kafkaOverrides())
        .as("Streams' producer. prefix passes whatever follows").containsKey("producer.lingr.ms");
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("kafka.producer.linger.ms", "5", "kafka.schema.registry.url",
        "http://registry:8081")).kafkaOverrides()).containsKeys("producer.linger.ms", "schema.registry.url");
  }

  @Test
  void shadowRulesAreEachNamedOnceAsPolicyAdminRequires() {
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("policy.shadow-rules", "chow-sum, chow-average"))
        .get(CascadeConfig.POLICY_SHADOW_RULES)).isEqualTo("chow-sum, chow-average");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_POLICY_SHADOW_RULES", "chow-sum, chow-sum"), Map.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("policy.shadow-rules: value 'chow-sum, chow-sum' from environment variable"
            + " CASCADE_POLICY_SHADOW_RULES is invalid: must be comma-separated rules, each named once");
  }

  @Test
  void aValueRefusedAfterItParsesNamesTheKeyAndTheSource() throws Exception {
    Path file = dir.resolve("rule.properties");
    Files.writeString(file, "policy.fallback-rule=nope\n");
    CascadeConfig config = CascadeConfig.load(file, Map.of(), Map.of("policy.rule", "chow-sum"));
    assertThat(config.invalid(CascadeConfig.POLICY_FALLBACK_RULE, "no such rule"))
        .hasMessage("policy.fallback-rule: no such rule (from file " + file + ")");
    assertThat(config.invalid(CascadeConfig.POLICY_RULE, "x")).hasMessage("policy.rule: x (from the command line)");
    assertThat(config.invalid(CascadeConfig.POLICY_SHADOW_RULES, "x")).hasMessage("policy.shadow-rules: x (from the default)");
    assertThat(config.with(CascadeConfig.POLICY_RULE, "chow-average").invalid(CascadeConfig.POLICY_RULE, "x"))
        .hasMessage("policy.rule: x (from an override)");
  }

  @Test
  void modelThreadsAreHalfTheCoresUnlessSet() {
    int cores = Runtime.getRuntime().availableProcessors();
    assertThat(CascadeConfig.defaults().cpuThreads().intraOp()).isEqualTo(Math.max(1, cores / 2));
    assertThat(CascadeConfig.defaults().cpuThreads().spinning()).isFalse();
    assertThat(CascadeConfig.defaults().cpuThreads().decoders()).isEqualTo(1);
    CascadeConfig set = CascadeConfig.load(null, Map.of("CASCADE_MODEL_THREADS", "3"),
        Map.of("model.spinning", "true", "model.decoders", "2"));
    assertThat(set.cpuThreads().intraOp()).isEqualTo(3);
    assertThat(set.cpuThreads().decoders()).isEqualTo(2);
    assertThat(set.cpuThreads().spinning()).isTrue();
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("model.threads", "0")).cpuThreads().intraOp()).isZero();
    assertThat(CascadeConfig.defaults().describe()).containsEntry("model.threads", "auto");
    assertThat(set.describe()).containsEntry("model.threads", "3");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("model.threads", "-2")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("model.threads").hasMessageContaining("'auto'");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("model.threads", "many")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("model.threads");
  }

  @Test
  void withOwnTopicsRenamesTheApplicationAndEveryTopicAndNothingElse() {
    CascadeConfig base = CascadeConfig.load(null, Map.of(), Map.of("small.batch.size", "8"));
    CascadeConfig own = base.withOwnTopics("app-b", "b");
    assertThat(own.get(CascadeConfig.APPLICATION_ID)).isEqualTo("app-b");
    assertThat(own.topics()).isEqualTo(new TopicNames("b.requests", "b.responses", "b.escalations", "b.outcomes",
        "b.feedback", "b.dead-letters", "b.policy", "b.rules"));
    assertThat(own.get(CascadeConfig.BATCH_SIZE)).isEqualTo(8);
    assertThat(base.topics().requests()).isEqualTo("cascade.requests");
  }

  @Test
  void chatHistoryKeysDefaultToTheLastUserMessageAndABadTurnFormatIsRefusedByName() {
    CascadeConfig defaults = CascadeConfig.defaults();
    assertThat(defaults.get(CascadeConfig.HTTP_CHAT_HISTORY)).isEqualTo(CascadeConfig.CHAT_LAST_USER);
    assertThat(defaults.get(CascadeConfig.HTTP_CHAT_TURN_FORMAT)).isEqualTo("{role}: {content}\n");
    CascadeConfig transcript = CascadeConfig.load(null, Map.of(), Map.of("http.chat-history", "transcript",
        "http.chat-turn-format", "<{role}>{content} |\\s", "http.chat-answer-cue", ""));
    assertThat(transcript.get(CascadeConfig.HTTP_CHAT_TURN_FORMAT)).as("escapes read after trimming")
        .isEqualTo("<{role}>{content} | ");
    assertThat(transcript.get(CascadeConfig.HTTP_CHAT_ANSWER_CUE)).isEmpty();
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("http.chat-answer-cue", "a\\qb")))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("http.chat-answer-cue");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("http.chat-history", "all")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("last-user or transcript");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("http.chat-turn-format", "{role}:")))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("http.chat-turn-format")
        .hasMessageContaining("{content} once");
  }

  @Test
  void replyTopicsAreTheDefaultUnderTheResponsesTopicAndBadValuesNameTheirKey() {
    CascadeConfig defaults = CascadeConfig.defaults();
    assertThat(defaults.get(CascadeConfig.FRONT_DOOR_REPLIES)).isEqualTo(CascadeConfig.REPLIES_OWN_TOPIC);
    assertThat(defaults.replyTopicPrefix()).isEqualTo("cascade.responses.");
    assertThat(defaults.withOwnTopics("app-b", "b").replyTopicPrefix()).isEqualTo("b.responses.");
    assertThat(CascadeConfig.load(null, Map.of("CASCADE_TOPIC_REPLY_PREFIX", "replies."), Map.of())
        .replyTopicPrefix()).isEqualTo("replies.");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("front-door.replies", "own")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("front-door.replies")
        .hasMessageContaining("own-topic or shared");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("topic.reply-prefix", "replies/")))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("topic.reply-prefix");
    CascadeConfig longResponses = CascadeConfig.load(null, Map.of(), Map.of("topic.responses", "r".repeat(230)));
    assertThatThrownBy(longResponses::replyTopicPrefix)
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("topic.reply-prefix");
  }

  @Test
  void corsOriginsAreOffByDefaultAndEachMustBeAnOriginOrAStar() {
    assertThat(CascadeConfig.defaults().get(CascadeConfig.HTTP_CORS_ALLOWED_ORIGINS)).isEmpty();
    assertThat(CascadeConfig.load(null, Map.of("CASCADE_HTTP_CORS_ALLOWED_ORIGINS",
        "https://app.example, http://localhost:5173,http://[::1]:8080"), Map.of())
        .get(CascadeConfig.HTTP_CORS_ALLOWED_ORIGINS))
        .containsExactly("https://app.example", "http://localhost:5173", "http://[::1]:8080");
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("http.cors-allowed-origins", "*"))
        .get(CascadeConfig.HTTP_CORS_ALLOWED_ORIGINS)).containsExactly("*");
    for (String bad : List.of("https://app.example/", "app.example", "https://app.example/chat", "https://a b")) {
      assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("http.cors-allowed-origins", bad)))
          .as(bad).isInstanceOf(ConfigException.class).hasMessageStartingWith("http.cors-allowed-origins")
          .hasMessageContaining("scheme://host");
    }
  }

  @Test
  void theLaunchersJavaOptionsAreNotAConfigurationKey() {
    CascadeConfig config = CascadeConfig.load(null,
        Map.of("CASCADE_JAVA_OPTS", "-Dcascade.cache=/tmp/x", "CASCADE_CDS", "off", "CASCADE_SMALL_BATCH_SIZE", "8"),
        Map.of());
    assertThat(config.get(CascadeConfig.BATCH_SIZE)).isEqualTo(8);
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_JAVA_OPTIONS", "x"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("CASCADE_JAVA_OPTIONS");
  }

  @Test
  void bootstrapServersAreHostPortPairs() {
    for (String ok : new String[] {"", "broker:9092", "a:1, b:2", "SASL_SSL://broker:9093", "[::1]:9092"}) {
      assertThat(CascadeConfig.load(null, Map.of(), Map.of("bootstrap.servers", ok)).get(CascadeConfig.BOOTSTRAP_SERVERS))
          .isEqualTo(ok.trim());
    }
    for (String bad : new String[] {"foo", "broker:", "broker:99999", "a:1,,b:2", ":9092", "a b:1"}) {
      assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("bootstrap.servers", bad)))
          .as(bad).isInstanceOf(ConfigException.class)
          .hasMessageContaining("bootstrap.servers: value '" + bad + "' from the command line is invalid: must be"
              + " empty or HOST:PORT,HOST:PORT,...");
    }
  }

  @Test
  void aKafkaClientSettingWithoutItsPrefixIsPointedToIt() {
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("commit.interval.ms", "20")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("commit.interval.ms: unknown key in the command line;"
            + " a Kafka client setting is given with the prefix kafka.: did you mean kafka.commit.interval.ms?");
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("kafka.commit.interval.ms", "20")).kafkaOverrides())
        .containsEntry("commit.interval.ms", "20");
  }

  @Test
  void kubernetesServiceLinksAndTheClientsSecretsAreNotRefused() {
    // What a pod gets for Services named cascade-router and cascade-large-model, and what a shell
    // exports for the command-line clients.
    Map<String, String> env = new java.util.HashMap<>(Map.of(
        "CASCADE_ROUTER_PORT", "tcp://10.0.0.1:50051",
        "CASCADE_ROUTER_SERVICE_HOST", "10.0.0.1",
        "CASCADE_ROUTER_SERVICE_PORT", "50051",
        "CASCADE_ROUTER_SERVICE_PORT_GRPC", "50051",
        "CASCADE_ROUTER_PORT_50051_TCP", "tcp://10.0.0.1:50051",
        "CASCADE_ROUTER_PORT_50051_TCP_PROTO", "tcp",
        "CASCADE_LARGE_MODEL_PORT_9465_TCP_ADDR", "10.0.0.2",
        "CASCADE_API_KEY", "k",
        "CASCADE_TLS_TRUST_STORE_PASSWORD", "p"));
    env.put("CASCADE_GRPC_PORT", "7000");
    CascadeConfig config = CascadeConfig.load(null, env, Map.of());
    assertThat(config.get(CascadeConfig.GRPC_PORT)).isEqualTo(7000);
    // A key's own variable still wins over the shape, and a typo that is not of the shape is refused.
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_GRPC_PORT", "x"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("CASCADE_GRPC_PORT");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_ROUTER_PORTS", "1"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("CASCADE_ROUTER_PORTS");
    // A typo of a key's variable is of the shape, but not its value: refused, with the key it meant.
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_GPRC_PORT", "50051"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("did you mean CASCADE_GRPC_PORT (grpc.port)?");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_METRIC_PORT", "9400"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("CASCADE_METRICS_PORT");
    // A Service named cascade-grpc gives the key's own variable a link's value: skipped, the default kept.
    CascadeConfig linked = CascadeConfig.load(null, Map.of("CASCADE_GRPC_PORT", "tcp://10.0.0.3:50051",
        "CASCADE_GRPC_SERVICE_HOST", "fd00::3", "CASCADE_GRPC_PORT_50051_TCP_PORT", "50051"), Map.of());
    assertThat(linked.get(CascadeConfig.GRPC_PORT)).isEqualTo(CascadeConfig.defaults().get(CascadeConfig.GRPC_PORT));
  }

  @Test
  void everyEnvironmentDefaultOfACommandIsAKeyOrAClientVariable() throws Exception {
    // Options read CASCADE_* variables as defaults (${env:CASCADE_...}); each must be one the
    // configuration accepts, or a command that loads it fails in a shell that exports it.
    java.util.regex.Pattern envDefault = java.util.regex.Pattern.compile("env:(CASCADE_[A-Z0-9_]+)");
    java.util.Set<String> named = new java.util.TreeSet<>();
    try (var files = Files.walk(Path.of("src/main/java"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        java.util.regex.Matcher m = envDefault.matcher(Files.readString(f));
        while (m.find()) {
          named.add(m.group(1));
        }
      }
    }
    assertThat(named).isNotEmpty();
    for (String variable : named) {
      CascadeConfig.load(null, Map.of(variable, "x".repeat(16)), Map.of());
    }
  }

  @Test
  void aMissingConfigFileIsSaidSoAndAByteOrderMarkIsNotPartOfTheFirstKey() throws Exception {
    assertThatThrownBy(() -> CascadeConfig.load(dir.resolve("nope.properties"), Map.of(), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageEndingWith("nope.properties: no such file");
    Path bom = dir.resolve("bom.properties");
    Files.writeString(bom, "\uFEFFsmall.batch.size=8\n");
    assertThat(CascadeConfig.load(bom, Map.of(), Map.of()).get(CascadeConfig.BATCH_SIZE)).isEqualTo(8);
  }

  @Test
  void unknownKeysAreRefusedEverywhere() throws Exception {
    Path file = dir.resolve("typo.properties");
    Files.writeString(file, "small.batch.sise=8\n");
    assertThatThrownBy(() -> CascadeConfig.load(file, Map.of(), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("small.batch.sise").hasMessageContaining("typo.properties");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of("CASCADE_BATCH", "3"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("CASCADE_BATCH");
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("nope", "1")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("nope");
  }

  @Test
  void missingFileIsAClearError() {
    assertThatThrownBy(() -> CascadeConfig.load(dir.resolve("absent.properties"), Map.of(), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("absent.properties");
  }

  @Test
  void describeMasksSecrets() {
    CascadeConfig config = CascadeConfig.load(null, Map.of(),
        Map.of("admin.token", "s3cret", "kafka.sasl.jaas.config", "x password=y"));
    assertThat(config.describe().toString()).doesNotContain("s3cret").doesNotContain("password=y");
  }

  @Test
  void describeMasksEverySecretButKeepsPathsAndTheRest() {
    Map<String, String> flags = new java.util.LinkedHashMap<>();
    flags.put("admin.token", "tok-VALUE-1");
    flags.put("grpc.tls.key-store", "/etc/tls/door.p12");
    flags.put("grpc.tls.key-store-password", "pw-VALUE-2");
    flags.put("grpc.tls.client-trust-store-password", "pw-VALUE-3");
    flags.put("large.tls.trust-store-password", "pw-VALUE-4");
    flags.put("large.tls.key-store-password", "pw-VALUE-5");
    flags.put("kafka.sasl.oauthbearer.jwks.endpoint.url", "https://user:pw-VALUE-6@idp.example/jwks");
    flags.put("kafka.ssl.keystore.password", "pw-VALUE-7");
    flags.put("kafka.ssl.key.password", "pw-VALUE-8");
    flags.put("kafka.ssl.keystore.key", "-----BEGIN PRIVATE KEY----- key-VALUE-9");
    flags.put("kafka.sasl.jaas.config", "ScramLoginModule required username=\"u\" password=\"pw-VALUE-10\";");
    flags.put("kafka.sasl.oauthbearer.client.credentials.client.secret", "pw-VALUE-11");
    flags.put("kafka.basic.auth.user.info", "u:pw-VALUE-12");
    flags.put("kafka.ssl.keystore.location", "/etc/kafka/client.p12");
    flags.put("kafka.security.protocol", "SASL_SSL");
    flags.put("admin.token-file", "/etc/cascade/secrets/admin-token");
    Map<String, String> described = CascadeConfig.load(null, Map.of(), flags).describe();
    assertThat(described.toString()).doesNotContain("VALUE");
    assertThat(described).containsEntry("admin.token", "****").containsEntry("kafka.ssl.keystore.key", "****")
        .containsEntry("kafka.sasl.oauthbearer.jwks.endpoint.url", "https://****@idp.example/jwks")
        .containsEntry("grpc.tls.key-store", "/etc/tls/door.p12")
        .containsEntry("kafka.ssl.keystore.location", "/etc/kafka/client.p12")
        .containsEntry("kafka.security.protocol", "SASL_SSL")
        .containsEntry("admin.token-file", "/etc/cascade/secrets/admin-token")
        .containsEntry("grpc.port", "0");
    // Empty secrets say so (nothing to hide).
    assertThat(CascadeConfig.defaults().describe()).containsEntry("admin.token", "")
        .containsEntry("grpc.tls.key-store-password", "");
  }

  @Test
  void describeShowsAnUnsetOptionalAsItIsWrittenNotAsJavasOptional() {
    assertThat(CascadeConfig.defaults().describe()).containsEntry("policy.early-defer-margin", "off");
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("policy.early-defer-margin", "0.25")).describe())
        .containsEntry("policy.early-defer-margin", "0.25");
    assertThat(CascadeConfig.defaults().describe().values()).noneMatch(v -> v.contains("Optional"));
    // Every optional key (its default unset) is unset by the word the log shows, so a logged line can be set again.
    for (ConfigKey<?> key : CascadeConfig.KEYS) {
      Object byDefault = key.defaultValue() == null ? null : key.parse(key.defaultValue(), "the default");
      if (CascadeConfig.UNSET.equals(CascadeConfig.shown(byDefault))) {
        assertThat(CascadeConfig.shown(key.parse(CascadeConfig.UNSET, "the test"))).as(key.name())
            .isEqualTo(CascadeConfig.UNSET);
      }
    }
    assertThat(CascadeConfig.shown(java.util.OptionalInt.empty())).isEqualTo("off");
    assertThat(CascadeConfig.shown(java.util.OptionalLong.of(7))).isEqualTo("7");
    assertThat(CascadeConfig.shown(java.util.Optional.of("x"))).isEqualTo("x");
  }

  @Test
  void aHostKeyIsEmptyForEveryInterfaceOrAnAddressResolvedAtStart() throws Exception {
    assertThat(CascadeConfig.defaults().bindAddress(CascadeConfig.GRPC_HOST)).isNull();
    assertThat(CascadeConfig.defaults().get(CascadeConfig.HTTP_ENABLED)).isTrue();
    CascadeConfig set = CascadeConfig.load(null, Map.of(), Map.of("grpc.host", "127.0.0.1", "http.host", "[::1]",
        "metrics.host", "::1"));
    assertThat(set.bindAddress(CascadeConfig.GRPC_HOST)).isEqualTo(java.net.InetAddress.getByName("127.0.0.1"));
    assertThat(set.bindAddress(CascadeConfig.HTTP_HOST)).isEqualTo(java.net.InetAddress.getByName("::1"));
    assertThat(set.bindAddress(CascadeConfig.METRICS_HOST)).isEqualTo(java.net.InetAddress.getByName("::1"));
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("http.host", "10.0.0.1/8")))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("http.host: value '10.0.0.1/8'");
  }
}
