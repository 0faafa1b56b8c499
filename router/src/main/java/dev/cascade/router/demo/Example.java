package dev.cascade.router.demo;

/**
 * One line of a JSONL dataset: a prompt, its reference answer (null when unknown), its kind
 * ("word", "phrase", or null) and the line it was read from (0 when not read from a file), for
 * errors that name it.
 */
public record Example(String prompt, String reference, String kind, int line) {

  /** An example not read from a file. */
  public Example(String prompt, String reference, String kind) {
    this(prompt, reference, kind, 0);
  }
}
