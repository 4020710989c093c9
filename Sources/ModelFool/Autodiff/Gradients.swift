/// Reverse-mode differentiation over the recorded graph.

/// Gradients of the scalar (or seeded) `output` with respect to each tensor in `inputs`.
///
/// - Parameters:
///   - output: the tensor to differentiate; a scalar unless `seed` is given.
///   - inputs: recorded tensors (variables or intermediate results) to differentiate against.
///   - seed: the cotangent of `output` (defaults to ones of its shape).
///   - createGraph: record the backward pass so the returned gradients can be differentiated
///     again (double backprop, needed by every fooling loss). Off by default, which is faster.
///   - whenFinal: called once per input (its index and gradient) as soon as its gradient is final,
///     during the pass: the pass visits the graph in reverse topological order, so an input is
///     reached after every op that read it. Inputs that `output` does not depend on are reported
///     (zeros) after the pass. Lets a data-parallel step start summing gradients over processes
///     while the rest of the backward pass runs.
/// - Returns: one gradient per input, shaped like it; zeros where `output` does not depend on it.
public func gradients(
  of output: Tensor, withRespectTo inputs: [Tensor], seed: Tensor? = nil,
  createGraph: Bool = false, whenFinal: ((_ index: Int, _ gradient: Tensor) -> Void)? = nil
) -> [Tensor] {
  if seed == nil {
    shapeCheck(
      output.count == 1, "gradients(of:): output of shape \(output.shape) is not a scalar; pass a seed")
  }
  let zerosFor = { (t: Tensor) in Tensor.zeros(t.shape) }
  // Reports every input not reported yet (zeros), then returns the gradients.
  func finish(_ result: [Tensor], reported: Set<Int> = []) -> [Tensor] {
    if let whenFinal { for (i, g) in result.enumerated() where !reported.contains(i) { whenFinal(i, g) } }
    return result
  }
  guard let root = output.node else { return finish(inputs.map(zerosFor)) }
  let targets = Set(inputs.compactMap { $0.node.map(ObjectIdentifier.init) })
  if targets.isEmpty { return finish(inputs.map(zerosFor)) }

  // Topological order (inputs before outputs) by an iterative depth-first search.
  var order: [GraphNode] = []
  var visited = Set<ObjectIdentifier>()
  var stack: [(GraphNode, Int)] = [(root, 0)]
  visited.insert(ObjectIdentifier(root))
  while let (node, next) = stack.popLast() {
    if next < node.inputs.count {
      stack.append((node, next + 1))
      if let child = node.inputs[next].node, visited.insert(ObjectIdentifier(child)).inserted {
        stack.append((child, 0))
      }
    } else {
      order.append(node)
    }
  }
  // A node needs a gradient only if some target lies at or below it.
  var needed = Set<ObjectIdentifier>()
  for node in order {
    let id = ObjectIdentifier(node)
    if targets.contains(id)
      || node.inputs.contains(where: { $0.node.map { needed.contains(ObjectIdentifier($0)) } ?? false })
    {
      needed.insert(id)
    }
  }

  var grads: [ObjectIdentifier: Tensor] = [:]
  let initial = seed ?? Tensor.ones(output.shape)
  shapeCheck(initial.shape == output.shape, "gradients(of:): seed shape \(initial.shape) != \(output.shape)")

  // Indices of the inputs each target node stands for (only when reported).
  var indicesOf: [ObjectIdentifier: [Int]] = [:]
  if whenFinal != nil {
    for (i, t) in inputs.enumerated() { if let n = t.node { indicesOf[ObjectIdentifier(n), default: []].append(i) } }
  }
  var reported = Set<Int>()

  GradientRecording.$isEnabled.withValue(createGraph) {
    grads[ObjectIdentifier(root)] = initial
    for node in order.reversed() {
      let id = ObjectIdentifier(node)
      if let whenFinal, let indices = indicesOf[id] {
        // Every op that read this input came before it in the pass: its gradient is complete.
        for i in indices {
          whenFinal(i, grads[id] ?? zerosFor(inputs[i]))
          reported.insert(i)
        }
      }
      guard needed.contains(id), let vjp = node.vjp, let g = grads[id] else { continue }
      if !targets.contains(id) { grads[id] = nil }  // free memory of intermediate gradients
      let out = node.outputStorage.map { Tensor(shape: node.shape, storage: $0, node: node) }
      let demand = node.inputs.map { $0.node.map { needed.contains(ObjectIdentifier($0)) } ?? false }
      let inputGrads = VJPDemand.$needed.withValue(demand) { vjp(g, out) }
      for (input, ig) in zip(node.inputs, inputGrads) {
        guard let ig, let child = input.node else { continue }
        let cid = ObjectIdentifier(child)
        guard needed.contains(cid) else { continue }
        shapeCheck(
          ig.shape == input.shape,
          "internal: VJP of \(node.name) returned shape \(ig.shape) for input \(input.shape)")
        // Without recording, a sum whose buffer no other tensor shares takes the next term in place.
        if var existing = grads.removeValue(forKey: cid) {
          if createGraph || !existing.addInPlaceIfUnshared(ig) { existing = existing + ig }
          grads[cid] = existing
        } else {
          grads[cid] = ig
        }
      }
    }
  }
  return finish(inputs.map { t in t.node.flatMap { grads[ObjectIdentifier($0)] } ?? zerosFor(t) }, reported: reported)
}

/// The value of `f(x...)` and its gradients with respect to the given tensors.
///
/// The inputs are made variables first, so constants can be passed directly.
public func valueWithGradient(
  at inputs: [Tensor], createGraph: Bool = false, in f: ([Tensor]) -> Tensor
) -> (value: Tensor, gradients: [Tensor]) {
  let vars = inputs.map { $0.requiresGradient ? $0 : $0.variable() }
  let y = f(vars)
  return (y, gradients(of: y, withRespectTo: vars, createGraph: createGraph))
}

extension Tensor {
  /// Adds `other` (of the same shape) into this tensor's own buffer, when no other tensor shares the
  /// buffer and this one is no graph value; returns false (and changes nothing) otherwise. Each
  /// element is `self[i] + other[i]`, as `self + other` computes it.
  mutating func addInPlaceIfUnshared(_ other: Tensor) -> Bool {
    guard node == nil, shape == other.shape, isKnownUniquelyReferenced(&storage) else { return false }
    let d = storage.pointer, s = other.storage.pointer
    parallelChunks(count, work: count) { part in
      for i in part { d[i] += s[i] }
    }
    return true
  }
}
