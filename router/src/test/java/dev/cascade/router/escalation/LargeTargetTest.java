package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** large.target's forms, and the errors for what is not one. */
class LargeTargetTest {

  @Test
  void aBareHostAndPortIsStillCascadeLargeModel() {
    LargeTarget t = LargeTarget.parse("10.0.0.5:50052");
    assertThat(t.protocol()).isEqualTo(LargeTarget.Protocol.CASCADE);
    assertThat(t.authority()).isEqualTo("10.0.0.5:50052");
    assertThat(LargeTarget.parse("large-model.default.svc:50052").host()).isEqualTo("large-model.default.svc");
    assertThat(LargeTarget.parse("[::1]:50052").authority()).isEqualTo("[::1]:50052");
  }

  @Test
  void theThreeSchemes() {
    assertThat(LargeTarget.parse("cascade://big:50052"))
        .isEqualTo(new LargeTarget(LargeTarget.Protocol.CASCADE, "big", 50052, "", "", false));
    assertThat(LargeTarget.parse("kserve://triton:8001/ensemble"))
        .isEqualTo(new LargeTarget(LargeTarget.Protocol.KSERVE, "triton", 8001, "ensemble", "", false));
    LargeTarget openai = LargeTarget.parse("openai://vllm:8000/v1?model=meta-llama/Llama-3.1-8B");
    assertThat(openai).isEqualTo(new LargeTarget(LargeTarget.Protocol.OPENAI, "vllm", 8000,
        "meta-llama/Llama-3.1-8B", "/v1", false));
    assertThat(openai.baseUri()).hasToString("http://vllm:8000/v1");
    // Scheme case does not matter; the path defaults to /v1; a trailing slash is dropped.
    assertThat(LargeTarget.parse("OpenAI://h:1?model=m").basePath()).isEqualTo("/v1");
    assertThat(LargeTarget.parse("openai://h:1/api/v1/?model=m").basePath()).isEqualTo("/api/v1");
    // The completions endpoint unless api=chat says the chat one.
    assertThat(openai.chat()).isFalse();
    assertThat(LargeTarget.parse("openai://h:1/v1?model=m&api=completions").chat()).isFalse();
    assertThat(LargeTarget.parse("openai://h:1/v1?model=m&api=chat"))
        .isEqualTo(new LargeTarget(LargeTarget.Protocol.OPENAI, "h", 1, "m", "/v1", false, true));
  }

  @Test
  void anAnthropicTargetIsTheMessagesApiAtItsPath() {
    LargeTarget t = LargeTarget.parse("anthropics://api.anthropic.com:443/v1?model=claude-haiku-4-5");
    assertThat(t).isEqualTo(new LargeTarget(LargeTarget.Protocol.ANTHROPIC, "api.anthropic.com", 443,
        "claude-haiku-4-5", "/v1", true));
    assertThat(t.baseUri()).hasToString("https://api.anthropic.com:443/v1");
    assertThat(LargeTarget.parse("anthropic://h:1?model=m").basePath()).isEqualTo("/v1");
    assertThat(LargeTarget.parse("anthropic://h:1/v1?model=m&tls=true").tls()).isTrue();
    assertBad("anthropic://h:1/v1", "an anthropic target names its model: anthropic://host:port/v1?model=NAME");
    assertBad("anthropic://h:1/v1?model=m&api=chat", "speaks the Messages API only");
    assertBad("anthropic://h:1/v1?model=m&top_k=1", "unknown query parameter 'top_k' (known: model, tls)");
  }

  @Test
  void httpsByOpenaisOrTheTlsParameter() {
    assertThat(LargeTarget.parse("openais://api.example.com:443/v1?model=m").baseUri())
        .hasToString("https://api.example.com:443/v1");
    assertThat(LargeTarget.parse("openai://h:8443/v1?model=m&tls=true").tls()).isTrue();
    assertThat(LargeTarget.parse("openai://h:8000/v1?model=m&tls=false").tls()).isFalse();
  }

  @Test
  void toStringParsesBackToTheSameTarget() {
    for (String text : new String[] {"h:1", "kserve://h:2/m", "openai://h:3/v1?model=a%2Fb", "openais://h:4/x?model=m",
        "openai://h:5/v1?api=chat&model=m", "anthropic://h:6/v1?model=m", "anthropics://h:7/v1?model=m"}) {
      LargeTarget t = LargeTarget.parse(text);
      assertThat(LargeTarget.parse(t.toString())).isEqualTo(t);
    }
  }

  @Test
  void malformedTargetsNameTheKeyAndTheAcceptedForms() {
    assertBad("grpc://h:1", "unknown scheme 'grpc'");
    assertBad("h", "no port");
    assertBad("cascade://h", "no port");
    assertBad("cascade://h:1/x", "takes no path");
    assertBad("kserve://h:1", "names one model");
    assertBad("kserve://h:1/a/b", "names one model");
    assertBad("openai://h:1/v1", "names its model");
    assertBad("openai://h:1/v1?model=m&temperature=1", "unknown query parameter 'temperature'");
    assertBad("openai://h:1/v1?model=m&tls=yes", "tls is true or false");
    assertBad("openai://h:1/v1?model=m&api=responses", "api is completions (POST /v1/completions, the default) or"
        + " chat (POST /v1/chat/completions), was 'responses'");
    assertBad("h:1/x", "host:port alone");
    assertBad("", "is empty");
  }

  @Test
  void theConfigurationRefusesAMalformedTargetWhenLoaded() {
    assertThatThrownBy(() -> CascadeConfig.load(null, Map.of(), Map.of("large.target", "kserve://triton:8001")))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("large.target: ")
        .hasMessageContaining("names one model")
        .hasMessageContaining("openai://host:port/v1?model=NAME")
        .hasMessageContaining("from the command line");
    assertThat(CascadeConfig.load(null, Map.of(), Map.of("large.target", "openai://h:1/v1?model=m"))
        .get(CascadeConfig.LARGE_TARGET)).isEqualTo("openai://h:1/v1?model=m");
    assertThat(CascadeConfig.defaults().get(CascadeConfig.LARGE_TARGET)).isEmpty();
  }

  private static void assertBad(String text, String why) {
    assertThatThrownBy(() -> LargeTarget.parse(text))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.key()).isEqualTo("large.target"))
        .hasMessageContaining(why)
        .hasMessageContaining(LargeTarget.FORMS);
  }
}
