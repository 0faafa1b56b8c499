package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.openai.OpenAiError;
import dev.cascade.models.openai.OpenAiRequest;
import org.junit.jupiter.api.Test;

/** The router's validator problems, made into OpenAI errors, name the OpenAI field. */
class OpenAiServerInvalidTest {

  private static final OpenAiRequest.Limits LIMITS = OpenAiServer.LIMITS;

  @Test
  void theValidatorsProblemNamesTheOpenAiField() {
    OpenAiRequest chat = OpenAiRequest.parse("{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\","
        + " \"content\": \"#\"}], \"max_completion_tokens\": 5}", true, LIMITS);
    OpenAiError prompt = OpenAiServer.invalid("prompt: character '#' cannot be encoded", chat);
    assertThat(prompt.param()).isEqualTo("messages[0].content");
    assertThat(prompt.getMessage()).isEqualTo("messages[0].content: character '#' cannot be encoded");
    OpenAiError limit = OpenAiServer.invalid("max_new_tokens: must be 0 (the default) to 512, was 600", chat);
    assertThat(limit.param()).isEqualTo("max_completion_tokens");
    assertThat(OpenAiServer.invalid("request_id: must not be empty", chat).param()).isNull();
  }
}
