package dev.cascade.router.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import dev.cascade.models.TextGenerators;
import dev.cascade.router.demo.Example;
import dev.cascade.router.demo.Examples;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Generates with a model: one prompt, or every line of a JSONL file (batched). */
@Command(name = "generate", mixinStandardHelpOptions = true,
    description = {"Greedy generation with a bundled model (small, medium, large) or a directory holding model.onnx and"
        + " tokenizer.json.",
        "Prints the text (the same form as the dataset's reference); with --json one object per prompt with text,"
        + " tokens, token_logprobs and entropies (and prompt, for --input)."})
final class GenerateCommand implements Callable<Integer> {

  /** How many input lines are generated (and printed) together. */
  private static final int CHUNK = 512;

  @Option(names = "--model", converter = ModelArguments.Model.class, defaultValue = "small", paramLabel = "small|medium|large|DIR",
      description = "The model: small, medium, large, or a directory with model.onnx and tokenizer.json (default:"
          + " ${DEFAULT-VALUE}).")
  String model;

  @Option(names = "--engine", converter = ModelArguments.Engine.class, defaultValue = "auto", paramLabel = "OnnxRuntime|TensorRT|auto",
      description = "The inference engine (default: ${DEFAULT-VALUE}: TensorRT where it loads, else OnnxRuntime).")
  String engine;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Source source;

  static final class Source {
    @Option(names = "--prompt", paramLabel = "TEXT", description = "One prompt.")
    String prompt;

    @Option(names = "--input", paramLabel = "FILE.jsonl", description = "A JSONL file; every line's \"prompt\" is generated for.")
    Path input;
  }

  @Option(names = "--json", description = "Print JSON objects instead of text.")
  boolean json;

  @Option(names = "--max-new-tokens", paramLabel = "N",
      description = "The most tokens to generate per prompt (default: the model's limit).")
  Integer maxNewTokens;

  @Option(names = "--batch-size", defaultValue = "64", paramLabel = "N",
      description = "Rows per forward pass (default: ${DEFAULT-VALUE}).")
  int batchSize;

  @Spec
  picocli.CommandLine.Model.CommandSpec spec;

  private final ObjectMapper mapper = new ObjectMapper();

  @Override
  public Integer call() throws IOException {
    PrintWriter out = spec.commandLine().getOut();
    if (batchSize < 1) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--batch-size: must be at least 1, was "
          + batchSize);
    }
    // The input first: a missing or malformed file is refused before the model loads.
    List<Example> examples = source.prompt != null ? List.of() : Examples.read(source.input);
    if (source.prompt == null && examples.isEmpty()) {
      throw new IllegalArgumentException(source.input + ": holds no prompts");
    }
    try (TextGenerator generator = TextGenerators.load(model, engine, batchSize)) {
      int most = generator.info().maxNewTokensLimit();
      if (maxNewTokens != null && (maxNewTokens < 1 || maxNewTokens > most)) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--max-new-tokens: " + maxNewTokens
            + " is outside 1.." + most + ", the most " + generator.info().name() + " generates");
      }
      int limit = maxNewTokens == null ? most : maxNewTokens;
      if (source.prompt != null) {
        Generation g = generator.generate(List.of(source.prompt), limit).get(0);
        out.println(json ? mapper.writeValueAsString(toJson(null, g)) : g.text());
      } else {
        for (Example e : examples) {
          generator.checkPrompt(e.prompt()).ifPresent(problem -> {
            throw new IllegalArgumentException(source.input + " line " + e.line() + ": " + problem);
          });
        }
        for (int start = 0; start < examples.size(); start += CHUNK) {
          List<String> prompts = examples.subList(start, Math.min(examples.size(), start + CHUNK)).stream()
              .map(Example::prompt).toList();
          print(out, prompts, generator.generate(prompts, limit));
        }
      }
    }
    out.flush();
    return 0;
  }

  private void print(PrintWriter out, List<String> prompts, List<Generation> generations) throws IOException {
    for (int i = 0; i < prompts.size(); i++) {
      Generation g = generations.get(i);
      out.println(json ? mapper.writeValueAsString(toJson(prompts.get(i), g)) : g.text());
    }
    out.flush();
  }

  private ObjectNode toJson(String prompt, Generation g) {
    ObjectNode node = mapper.createObjectNode();
    if (prompt != null) {
      node.put("prompt", prompt);
    }
    node.put("text", g.text());
    var tokens = node.putArray("tokens");
    var logprobs = node.putArray("token_logprobs");
    var entropies = node.putArray("entropies");
    for (int i = 0; i < g.tokens().length; i++) {
      tokens.add(g.tokens()[i]);
      logprobs.add(g.tokenLogprobs()[i]);
      entropies.add(g.entropies()[i]);
    }
    return node;
  }
}
