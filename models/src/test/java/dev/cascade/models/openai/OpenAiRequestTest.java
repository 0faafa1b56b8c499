package dev.cascade.models.openai;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** How OpenAI request bodies become a cascade request, and which fields are refused, naming them. */
class OpenAiRequestTest {

  private static final OpenAiRequest.Limits LIMITS = new OpenAiRequest.Limits(512,
      " (a model's own lower limit then applies)", 64, 1024);

  private static OpenAiError refusal(String body, boolean chat) {
    try {
      OpenAiRequest.parse(body, chat, LIMITS);
    } catch (OpenAiError e) {
      return e;
    }
    throw new AssertionError("accepted: " + body);
  }

  @Test
  void aCompletionKeepsPromptLimitStopEchoAndMetadata() {
    OpenAiRequest r = OpenAiRequest.parse("""
        {"model": "cascade", "prompt": ["cascade"], "max_tokens": 20, "stop": ["x", "y"], "echo": true,
         "user": "u-1", "safety_identifier": "s-1", "metadata": {"team": "search", "user": "u-1"}, "temperature": 0.7, "top_p": 0.9, "seed": 3, "n": 1,
         "presence_penalty": 0, "logit_bias": {}, "stream": true, "stream_options": {"include_usage": true},
         "some_future_field": [1, 2]}""", false, LIMITS);
    assertThat(r.chat()).isFalse();
    assertThat(r.prompt()).isEqualTo("cascade");
    assertThat(r.promptParam()).isEqualTo("prompt");
    assertThat(r.messagesNotSent()).isZero();
    assertThat(r.maxNewTokens()).isEqualTo(20);
    assertThat(r.stop()).containsExactly("x", "y");
    assertThat(r.echo()).isTrue();
    assertThat(r.stream()).isTrue();
    assertThat(r.includeUsage()).isTrue();
    assertThat(r.metadata()).containsExactlyInAnyOrderEntriesOf(Map.of("team", "search", "user", "u-1",
        "safety_identifier", "s-1"));
  }

  @Test
  void aChatAnswersTheLastUserMessageWithItsTextPartsJoined() {
    OpenAiRequest r = OpenAiRequest.parse("""
        {"model": "cascade", "messages": [
           {"role": "system", "content": "be brief"},
           {"role": "user", "content": "first"},
           {"role": "assistant", "content": "ignored"},
           {"role": "user", "content": [{"type": "text", "text": "new"}, {"type": "text", "text": "york"}]}],
         "max_tokens": 10, "max_completion_tokens": 12, "tool_choice": "auto", "response_format": {"type": "text"},
         "functions": [{"name": "f"}], "function_call": "none"}""",
        true, LIMITS);
    assertThat(r.chat()).isTrue();
    assertThat(r.prompt()).isEqualTo("new york");
    assertThat(r.promptParam()).isEqualTo("messages[3].content");
    assertThat(r.messagesNotSent()).as("the system message and the first turn").isEqualTo(3);
    assertThat(r.maxNewTokens()).isEqualTo(12);
    assertThat(r.maxTokensParam()).isEqualTo("max_completion_tokens");
    assertThat(r.stream()).isFalse();
    assertThat(r.stop()).isEmpty();
  }

  @Test
  void absentAndNullFieldsTakeTheirDefaults() {
    OpenAiRequest r = OpenAiRequest.parse("{\"model\": \"cascade\", \"prompt\": \"a\", \"max_tokens\": null,"
        + " \"n\": null, \"stop\": null, \"logprobs\": null}", false, LIMITS);
    assertThat(r.maxNewTokens()).isZero();
    assertThat(r.stop()).isEmpty();
    assertThat(r.metadata()).isEmpty();
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "{\"prompt\": \"a\"}                                            | model      | missing_required_parameter",
      "{\"model\": 3, \"prompt\": \"a\"}                              | model      | invalid_type",
      "{\"model\": \"\", \"prompt\": \"a\"}                        | model      | invalid_value",
      "{\"model\": \"cascade\"}                                       | prompt     | missing_required_parameter",
      "{\"model\": \"cascade\", \"prompt\": [1, 2]}                   | prompt     | invalid_type",
      "{\"model\": \"cascade\", \"prompt\": [\"a\", \"b\"]}           | prompt     | unsupported_parameter",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"n\": 2}          | n          | unsupported_parameter",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"n\": 0}          | n          | invalid_value",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"best_of\": 3}    | best_of    | unsupported_parameter",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"logprobs\": 0}   | logprobs   | unsupported_parameter",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"suffix\": \"z\"}  | suffix     | unsupported_parameter",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"max_tokens\": \"9\"} | max_tokens | invalid_type",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"max_tokens\": 0}  | max_tokens | invalid_value",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"max_tokens\": 513} | max_tokens | invalid_value",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"temperature\": 3} | temperature | invalid_value",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"top_p\": \"x\"}  | top_p      | invalid_type",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"frequency_penalty\": 0.5} | frequency_penalty | unsupported_parameter",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"logit_bias\": {\"5\": 1}} | logit_bias | unsupported_parameter",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\"]} | stop | invalid_value",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"stop\": [\"1\", 2]} | stop      | invalid_type",
      "{\"model\": \"cascade\", \"prompt\": []}                    | prompt     | invalid_value",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"stop\": \"\"}    | stop       | invalid_value",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"stream\": \"yes\"} | stream    | invalid_type",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"stream_options\": {\"include_usage\": 1}} | stream_options.include_usage | invalid_type",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"metadata\": {\"k\": 1}} | metadata | invalid_type",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"user\": 5}        | user       | invalid_type",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"user\": \"u1\", \"metadata\": {\"user\": \"u2\"}} | user | invalid_value",
      "{\"model\": \"cascade\", \"prompt\": \"a\", \"safety_identifier\": \"s1\", \"metadata\": {\"safety_identifier\": \"s2\"}} | safety_identifier | invalid_value",
  })
  void aCompletionFieldIsRefusedByName(String body, String param, String code) {
    OpenAiError e = refusal(body, false);
    assertThat(e.status()).isEqualTo(400);
    assertThat(e.type()).isEqualTo("invalid_request_error");
    assertThat(e.param()).isEqualTo(param);
    assertThat(e.code()).isEqualTo(code);
    assertThat(e.getMessage()).startsWith(param + ":");
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "{\"model\": \"cascade\"}                                                     | messages | missing_required_parameter",
      "{\"model\": \"cascade\", \"messages\": []}                                   | messages | invalid_value",
      "{\"model\": \"cascade\", \"messages\": \"hi\"}                               | messages | invalid_type",
      "{\"model\": \"cascade\", \"messages\": [{\"content\": \"x\"}]}               | messages[0].role | missing_required_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": 5, \"content\": \"x\"}]}   | messages[0].role | invalid_type",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"system\", \"content\": \"x\"}]} | messages | invalid_value",
      "{\"model\": \"cascade\", \"messages\": [\"hi\"]}                             | messages[0] | invalid_type",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]} | messages[0].role | invalid_value",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\"}]}               | messages[0].content | missing_required_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": 4}]} | messages[0].content | invalid_type",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]} | messages[0].content[0].type | unsupported_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"logprobs\": true} | logprobs | unsupported_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"top_logprobs\": 2} | top_logprobs | unsupported_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"response_format\": {\"type\": \"json_object\"}} | response_format | unsupported_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"tool_choice\": \"required\"} | tool_choice | unsupported_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"f\"}}} | tool_choice | unsupported_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"functions\": [{\"name\": \"f\"}], \"function_call\": {\"name\": \"f\"}} | function_call | unsupported_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"function_call\": \"required\"} | function_call | unsupported_parameter",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"max_completion_tokens\": -1} | max_completion_tokens | invalid_value",
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"n\": 3} | n | unsupported_parameter",
  })
  void aChatFieldIsRefusedByName(String body, String param, String code) {
    OpenAiError e = refusal(body, true);
    assertThat(e.status()).isEqualTo(400);
    assertThat(e.param()).isEqualTo(param);
    assertThat(e.code()).isEqualTo(code);
    assertThat(e.getMessage()).startsWith(param + ":");
  }

  @Test
  void anEmptyPromptArrayAndTooManyStopStringsAreSaidAsSuch() {
    assertThat(refusal("{\"model\": \"cascade\", \"prompt\": []}", false).getMessage())
        .isEqualTo("prompt: an empty array; must be a string (or an array of one string)");
    assertThat(refusal("{\"model\": \"cascade\", \"prompt\": [1, 2]}", false).getMessage())
        .contains("token arrays are not accepted");
    assertThat(refusal("{\"model\": \"cascade\", \"prompt\": \"a\", \"stop\": [\"1\",\"2\",\"3\",\"4\",\"5\"]}", false)
        .getMessage()).isEqualTo("stop: at most 4 strings, was 5");
  }

  @Test
  void aBodyThatIsNotAJsonObjectIsRefusedWithoutAParam() {
    for (String body : List.of("{\"model\": ", "[1]", "", "null")) {
      OpenAiError e = refusal(body, false);
      assertThat(e.status()).isEqualTo(400);
      assertThat(e.code()).isEqualTo("invalid_json");
      assertThat(e.param()).isNull();
    }
  }

  @Test
  void aBodyThatIsNotUtf8IsInvalidJsonNamingTheByte() {
    byte[] body = "{\"prompt\": \"ca\u0000t\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    body[13] = (byte) 0xff;
    assertThatThrownBy(() -> OpenAiRequest.utf8(body)).isInstanceOf(OpenAiError.class)
        .hasMessage("the request body is not UTF-8 text: byte 0xFF at offset 13 does not begin a valid UTF-8 character")
        .extracting(e -> ((OpenAiError) e).code()).isEqualTo("invalid_json");
    assertThat(OpenAiRequest.utf8("{\"prompt\": \"café\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8)))
        .isEqualTo("{\"prompt\": \"café\"}");
  }

  @Test
  void textAfterTheJsonObjectIsRefused() {
    OpenAiError e = refusal("{\"model\": \"cascade\", \"prompt\": \"cat\"} trailing", false);
    assertThat(e.code()).isEqualTo("invalid_json");
  }

  @Test
  void anInvalidJsonMessageSaysWhatAndWhereWithoutTheParsersInternals() {
    OpenAiError cut = refusal("{\"model\": \"cascade\", \"prompt\": \"cascade\"", false);
    assertThat(cut.getMessage()).startsWith("We could not parse the JSON body of your request: Unexpected end-of-input")
        .contains(" at line 1, column ").doesNotContain("Source").doesNotContain("StreamReadFeature");
    OpenAiError two = refusal("{\"model\": \"cascade\"}\n 7", false);
    assertThat(two.getMessage()).contains("more than one JSON value at line 2, column ");
  }

  @Test
  void aTokenLimitTooLargeForAnIntIsOutOfRangeNotOfTheWrongType() {
    OpenAiError e = refusal("{\"model\": \"cascade\", \"prompt\": \"cat\", \"max_tokens\": 99999999999999999999}",
        false);
    assertThat(e.code()).isEqualTo("invalid_value");
    assertThat(e.getMessage()).isEqualTo("max_tokens: must be 1 to 512 (a model's own lower limit then applies),"
        + " was 99999999999999999999");
  }

  @Test
  void theAnswerIsCutBeforeTheEarliestStopString() {
    OpenAiRequest r = OpenAiRequest.parse("{\"model\": \"m\", \"prompt\": \"p\", \"stop\": [\"c\", \"b\"]}", false,
        LIMITS);
    assertThat(r.cutAtStop("aabbcc")).contains("aa");
    assertThat(r.cutAtStop("xyz")).isEmpty();
  }

  @Test
  void theErrorBodyHasOpenAisFourFields() {
    assertThat(OpenAiError.invalid("stop", "invalid_type", "stop: no").toJson())
        .isEqualTo("{\"error\":{\"message\":\"stop: no\",\"type\":\"invalid_request_error\",\"param\":\"stop\","
            + "\"code\":\"invalid_type\"}}");
  }

  private static OpenAiRequest responses(String body) {
    return OpenAiRequest.responses(OpenAiRequest.object(body), LIMITS);
  }

  private static OpenAiError responsesRefusal(String body) {
    try {
      responses(body);
    } catch (OpenAiError e) {
      return e;
    }
    throw new AssertionError("accepted: " + body);
  }

  @Test
  void aResponsesCallIsReadAsAChatWithInstructionsFirst() {
    OpenAiRequest r = responses("""
        {"model": "cascade", "instructions": "be brief", "max_output_tokens": 9, "store": true,
         "input": [{"role": "user", "content": "first"}, {"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": "FIRST"}]},
                   {"role": "user", "content": [{"type": "input_text", "text": "new"}, {"type": "input_text", "text": "york"}]}],
         "tools": [{"type": "web_search"}], "tool_choice": "auto", "text": {"format": {"type": "text"}},
         "reasoning": {"effort": "low"}, "truncation": "auto", "metadata": {"team": "search"}, "stream": true}""");
    assertThat(r.api()).isEqualTo(OpenAiRequest.Api.RESPONSES);
    assertThat(r.chat()).isTrue();
    assertThat(r.prompt()).isEqualTo("new york");
    assertThat(r.promptParam()).isEqualTo("input[2].content");
    assertThat(r.maxNewTokens()).isEqualTo(9);
    assertThat(r.maxTokensParam()).isEqualTo("max_output_tokens");
    assertThat(r.stream()).isTrue();
    assertThat(r.metadata()).containsEntry("team", "search");
    assertThat(r.messagesNotSent()).as("the instructions and the first turn").isEqualTo(3);
    assertThat(r.messages()).extracting(OpenAiRequest.Message::role).containsExactly("system", "user", "assistant",
        "user");
    assertThat(r.messages().get(2).text()).hasValue("FIRST");
    OpenAiRequest plain = responses("{\"model\": \"cascade\", \"input\": \"cascade\"}");
    assertThat(plain.prompt()).isEqualTo("cascade");
    assertThat(plain.promptParam()).isEqualTo("input");
    assertThat(plain.messagesNotSent()).isZero();
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "{\"model\": \"cascade\"}|input|missing_required_parameter",
      "{\"model\": \"cascade\", \"input\": []}|input|invalid_value",
      "{\"model\": \"cascade\", \"input\": \"x\", \"previous_response_id\": \"resp_1\"}|previous_response_id|unsupported_parameter",
      "{\"model\": \"cascade\", \"input\": \"x\", \"conversation\": \"conv_1\"}|conversation|unsupported_parameter",
      "{\"model\": \"cascade\", \"input\": \"x\", \"background\": true}|background|unsupported_parameter",
      "{\"model\": \"cascade\", \"input\": [{\"type\": \"function_call_output\", \"call_id\": \"c\", \"output\": \"1\"}]}|input[0].type|unsupported_parameter",
      "{\"model\": \"cascade\", \"input\": [{\"role\": \"tool\", \"content\": \"1\"}]}|input[0].role|invalid_value",
      "{\"model\": \"cascade\", \"input\": [{\"role\": \"assistant\", \"content\": \"1\"}]}|input|invalid_value",
      "{\"model\": \"cascade\", \"input\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_image\", \"image_url\": \"u\"}]}]}|input[0].content[0].type|unsupported_parameter",
      "{\"model\": \"cascade\", \"input\": \"x\", \"instructions\": 3}|instructions|invalid_type",
      "{\"model\": \"cascade\", \"input\": \"x\", \"max_output_tokens\": 0}|max_output_tokens|invalid_value",
      "{\"model\": \"cascade\", \"input\": \"x\", \"text\": {\"format\": {\"type\": \"json_object\"}}}|text.format|unsupported_parameter",
      "{\"model\": \"cascade\", \"input\": \"x\", \"include\": [\"message.output_text.logprobs\"]}|include|unsupported_parameter",
      "{\"model\": \"cascade\", \"input\": \"x\", \"tool_choice\": \"required\"}|tool_choice|unsupported_parameter"})
  void aResponsesCallIsRefusedNamingTheField(String body, String param, String code) {
    OpenAiError e = responsesRefusal(body);
    assertThat(e.param()).isEqualTo(param);
    assertThat(e.code()).isEqualTo(code);
    assertThat(e.getMessage()).startsWith(param + ":");
  }

  private static OpenAiRequest anthropic(String body) {
    return OpenAiRequest.anthropicMessages(OpenAiRequest.object(body), LIMITS);
  }

  @Test
  void anAnthropicMessagesCallIsReadAsAChatWithTheSystemPromptFirst() {
    OpenAiRequest r = anthropic("""
        {"model": "cascade", "max_tokens": 12, "system": [{"type": "text", "text": "be brief"}],
         "messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "FIRST"},
                      {"role": "user", "content": [{"type": "text", "text": "new"}, {"type": "text", "text": "york"}]}],
         "stop_sequences": ["x"], "temperature": 1, "top_k": 5, "tool_choice": {"type": "auto"},
         "tools": [{"name": "t"}], "thinking": {"type": "disabled"}, "metadata": {"user_id": "u-1"}, "stream": true}""");
    assertThat(r.api()).isEqualTo(OpenAiRequest.Api.MESSAGES);
    assertThat(r.prompt()).isEqualTo("new york");
    assertThat(r.promptParam()).isEqualTo("messages[2].content");
    assertThat(r.maxNewTokens()).isEqualTo(12);
    assertThat(r.maxTokensParam()).isEqualTo("max_tokens");
    assertThat(r.stop()).containsExactly("x");
    assertThat(r.stream()).isTrue();
    assertThat(r.metadata()).containsExactly(Map.entry("user_id", "u-1"));
    assertThat(r.messagesNotSent()).as("the system prompt and the first turn").isEqualTo(3);
    assertThat(r.messages().get(0).text()).hasValue("be brief");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "{\"model\": \"cascade\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}|max_tokens",
      "{\"model\": \"cascade\", \"max_tokens\": 5}|messages",
      "{\"model\": \"cascade\", \"max_tokens\": 5, \"messages\": [{\"role\": \"system\", \"content\": \"x\"}]}|messages[0].role",
      "{\"model\": \"cascade\", \"max_tokens\": 5, \"messages\": [{\"role\": \"assistant\", \"content\": \"x\"}]}|messages",
      "{\"model\": \"cascade\", \"max_tokens\": 5, \"system\": [{\"type\": \"image\"}], \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}|system[0].type",
      "{\"model\": \"cascade\", \"max_tokens\": 5, \"stop_sequences\": \"x\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}|stop_sequences",
      "{\"model\": \"cascade\", \"max_tokens\": 5, \"top_k\": -1, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}|top_k",
      "{\"model\": \"cascade\", \"max_tokens\": 5, \"temperature\": 1.5, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}|temperature",
      "{\"model\": \"cascade\", \"max_tokens\": 5, \"tool_choice\": {\"type\": \"any\"}, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}|tool_choice",
      "{\"model\": \"cascade\", \"max_tokens\": 5, \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"tool_result\", \"tool_use_id\": \"t\"}]}]}|messages[0].content[0].type"})
  void anAnthropicMessagesCallIsRefusedNamingTheField(String body, String param) {
    OpenAiError e;
    try {
      anthropic(body);
      throw new AssertionError("accepted: " + body);
    } catch (OpenAiError refused) {
      e = refused;
    }
    assertThat(e.param()).isEqualTo(param);
    assertThat(e.getMessage()).startsWith(param + ":");
  }
}
