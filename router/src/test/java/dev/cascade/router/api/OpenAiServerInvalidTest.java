package dev.cascade.router.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.openai.OpenAiError;
import dev.cascade.models.openai.OpenAiRequest;
import java.util.List;
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
    assertThat(prompt.code()).isEqualTo("invalid_value");
    // Over a token limit, the small model's or a later one's: OpenAI's code, which agent frameworks look for.
    for (String tooLong : List.of("prompt: 60 tokens is over the model's limit of 47 (context length minus room for"
        + " the output)", "prompt: more than 47 tokens (its first 9000 of 20000 characters alone are 900 tokens), over the"
        + " model's limit of 47", "prompt: 60 tokens is over the limit of the 'large' model, which an escalation would"
        + " reach (40 prompt tokens, as its server says)")) {
      OpenAiError over = OpenAiServer.invalid(tooLong, chat);
      assertThat(over.code()).as(tooLong).isEqualTo("context_length_exceeded");
      assertThat(over.param()).isEqualTo("messages[0].content");
    }
    OpenAiError limit = OpenAiServer.invalid("max_new_tokens: must be 0 (the default) to 512, was 600", chat);
    assertThat(limit.param()).isEqualTo("max_completion_tokens");
    assertThat(OpenAiServer.invalid("request_id: must not be empty", chat).param()).isNull();
  }
}
