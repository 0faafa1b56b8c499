package dev.cascade.deploy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The Kubernetes manifests of a kustomization, parsed into fabric8's typed model: what {@code
 * kubectl apply -k} would send, before kustomize's own rewriting (name prefixes, image tags,
 * patches), which no test here runs.
 */
final class Manifests {

  static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
  private static final Pattern DOCUMENT_SEPARATOR = Pattern.compile("(?m)^---\\s*$");

  /** One resource and the file it came from. */
  record Manifest(Path file, HasMetadata resource) {
    String kind() {
      return resource.getKind();
    }

    String name() {
      return resource.getMetadata().getName();
    }
  }

  private final List<Manifest> resources;
  private final Map<String, Object> kustomization;

  private Manifests(List<Manifest> resources, Map<String, Object> kustomization) {
    this.resources = resources;
    this.kustomization = kustomization;
  }

  /** The resources {@code dir/kustomization.yaml} lists, following directories (bases) it names. */
  static Manifests of(Path dir) {
    Map<String, Object> kustomization = yaml(dir.resolve("kustomization.yaml"));
    List<Manifest> out = new ArrayList<>();
    for (Object entry : list(kustomization.get("resources"))) {
      Path path = dir.resolve(entry.toString()).normalize();
      if (Files.isDirectory(path)) {
        out.addAll(of(path).resources);
      } else {
        out.addAll(parse(path));
      }
    }
    return new Manifests(List.copyOf(out), kustomization);
  }

  /** Every document of a YAML file, as typed resources (custom resources as generic ones). */
  static List<Manifest> parse(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<Manifest> out = new ArrayList<>();
    for (String doc : DOCUMENT_SEPARATOR.split(text)) {
      if (doc.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
        continue;
      }
      Object parsed = SERIALIZATION.unmarshal(doc);
      if (!(parsed instanceof HasMetadata resource)) {
        throw new AssertionError(file + ": not a Kubernetes resource: " + parsed);
      }
      out.add(new Manifest(file, resource));
    }
    return out;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> yaml(Path file) {
    try {
      return SERIALIZATION.unmarshal(Files.readString(file), Map.class);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static List<?> list(Object value) {
    return value == null ? List.of() : (List<?>) value;
  }

  List<Manifest> all() {
    return resources;
  }

  Map<String, Object> kustomization() {
    return kustomization;
  }

  <T extends HasMetadata> T get(Class<T> type, String name) {
    return find(type, name).orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " named " + name));
  }

  <T extends HasMetadata> Optional<T> find(Class<T> type, String name) {
    return all(type).stream().filter(r -> r.getMetadata().getName().equals(name)).findFirst();
  }

  <T extends HasMetadata> List<T> all(Class<T> type) {
    return resources.stream().map(Manifest::resource).filter(type::isInstance).map(type::cast).toList();
  }

  /** The pod template of every workload (StatefulSet and Deployment), by workload name. */
  Map<String, PodTemplateSpec> podTemplates() {
    Map<String, PodTemplateSpec> pods = new LinkedHashMap<>();
    all(StatefulSet.class).forEach(s -> pods.put(s.getMetadata().getName(), s.getSpec().getTemplate()));
    all(Deployment.class).forEach(d -> pods.put(d.getMetadata().getName(), d.getSpec().getTemplate()));
    return pods;
  }

  List<GenericKubernetesResource> custom(String kind) {
    return all(GenericKubernetesResource.class).stream().filter(r -> r.getKind().equals(kind)).toList();
  }

  /**
   * Fields the typed model did not know, as paths: fabric8 keeps them in each object's additional
   * properties instead of failing, so a misspelt {@code readinesProbe} would otherwise pass.
   */
  static List<String> unknownFields(Object typed) {
    List<String> out = new ArrayList<>();
    walk(typed, typed.getClass().getSimpleName(), out);
    return out;
  }

  private static void walk(Object node, String path, List<String> out) {
    if (node == null) {
      return;
    }
    if (node instanceof Collection<?> items) {
      int i = 0;
      for (Object item : items) {
        walk(item, path + "[" + i++ + "]", out);
      }
      return;
    }
    if (node instanceof Map<?, ?> map) {
      map.forEach((k, v) -> walk(v, path + "." + k, out));
      return;
    }
    if (!node.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
      return;
    }
    for (Method m : node.getClass().getMethods()) {
      if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers()) || !m.getName().startsWith("get")
          || m.getDeclaringClass() == Object.class) {
        continue;
      }
      Object value;
      try {
        value = m.invoke(node);
      } catch (IllegalAccessException | InvocationTargetException e) {
        continue;
      }
      if (m.getName().equals("getAdditionalProperties")) {
        if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
          extra.keySet().forEach(k -> out.add(path + "." + k));
        }
        continue;
      }
      String field = Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4);
      walk(value, path + "." + field, out);
    }
  }
}
