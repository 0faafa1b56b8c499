package dev.cascade.router.demo;

/**
 * One line of a JSONL dataset: a prompt, its reference answer (null when unknown) and its kind
 * ("word", "phrase", or null).
 */
public record Example(String prompt, String reference, String kind) {}
