package dev.cascade.router.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.models.ModelInfo;
import dev.cascade.models.TextGenerator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerationCacheTest {

  @TempDir
  Path dir;

  /** Answers each prompt with itself reversed; counts the prompts it generated. */
  private static final class CountingModel implements TextGenerator {
    final AtomicInteger generated = new AtomicInteger();

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens) {
      return generate(prompts, maxNewTokens, Cancellation.NONE);
    }

    @Override
    public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
      List<Generation> out = new ArrayList<>();
      for (String p : prompts) {
        generated.incrementAndGet();
        float[] embedding = p.length() % 2 == 0 ? null : new float[] {p.length(), 0.5f};
        out.add(new Generation(new StringBuilder(p).reverse().toString(), new int[] {p.length(), 7},
            new float[] {-0.25f, -p.length()}, new float[] {0.1f, 0.2f}, embedding));
      }
      return out;
    }

    @Override
    public Optional<String> checkPrompt(String prompt) {
      return Optional.empty();
    }

    @Override
    public ModelInfo info() {
      return new ModelInfo("counting", "none", 0, 64, 48, true);
    }

    @Override
    public void close() {}
  }

  @Test
  void aSecondRunReadsWhatTheFirstGeneratedAndAnythingThatChangesTheAnswersMisses() throws Exception {
    Path weights = Files.write(dir.resolve("model.onnx"), new byte[] {1, 2, 3});
    GenerationCache cache = new GenerationCache(dir.resolve("cache"));
    CountingModel model = new CountingModel();
    List<String> prompts = List.of("cascade", "ab", "router");

    GenerationCache.Result first = cache.generate(model, weights, prompts, 48, 2, n -> { });
    assertThat(first.cached()).isFalse();
    assertThat(model.generated).hasValue(3);

    GenerationCache.Result second = cache.generate(model, weights, prompts, 48, 2, n -> { });
    assertThat(second.cached()).isTrue();
    assertThat(model.generated).as("nothing generated again").hasValue(3);
    for (int i = 0; i < prompts.size(); i++) {
      Generation a = first.generations().get(i);
      Generation b = second.generations().get(i);
      assertThat(b.text()).isEqualTo(a.text());
      assertThat(b.tokens()).containsExactly(a.tokens());
      assertThat(b.tokenLogprobs()).containsExactly(a.tokenLogprobs());
      assertThat(b.entropies()).containsExactly(a.entropies());
      assertThat(b.embedding()).isEqualTo(a.embedding());
    }

    assertThat(cache.generate(model, weights, prompts, 12, 2, n -> { }).cached()).as("another token limit").isFalse();
    assertThat(cache.generate(model, weights, List.of("cascade", "ab"), 48, 2, n -> { }).cached())
        .as("other prompts").isFalse();
    Files.write(weights, new byte[] {1, 2, 4});
    assertThat(cache.generate(model, weights, prompts, 48, 2, n -> { }).cached()).as("other weights").isFalse();
  }

  @Test
  void aDamagedFileIsGeneratedAgainAndRewritten() throws Exception {
    Path weights = Files.write(dir.resolve("model.onnx"), new byte[] {9});
    GenerationCache cache = new GenerationCache(dir.resolve("cache"));
    CountingModel model = new CountingModel();
    List<String> prompts = List.of("one", "two");
    cache.generate(model, weights, prompts, 48, 8, n -> { });
    try (var files = Files.list(dir.resolve("cache"))) {
      Path written = files.filter(p -> p.toString().endsWith(".bin")).findFirst().orElseThrow();
      Files.write(written, new byte[] {0, 3, 'x'});
    }
    GenerationCache.Result again = cache.generate(model, weights, prompts, 48, 8, n -> { });
    assertThat(again.cached()).isFalse();
    assertThat(again.generations()).extracting(Generation::text).containsExactly("eno", "owt");
    assertThat(cache.generate(model, weights, prompts, 48, 8, n -> { }).cached()).isTrue();
  }
}
