package dev.cascade.models.openai;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class OpenAiErrorTest {

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(nullValues = "none", value = {
      "400, false", "401, false", "404, false", "405, false", "413, false",
      "408, none", "409, none", "429, true", "500, none", "503, true"})
  void shouldRetryFollowsTheStatusUnlessSetExplicitly(int status, String expected) {
    OpenAiError e = new OpenAiError(status, "t", null, "c", "m");
    assertThat(e.shouldRetry()).isEqualTo(expected);
    OpenAiError no = e.withShouldRetry(false);
    assertThat(no.shouldRetry()).isEqualTo("false");
    assertThat(no.toJson()).isEqualTo(e.toJson());
    assertThat(no.status()).isEqualTo(status);
  }
}
