/// Evaluation of the graph operators (see GraphValue.swift for the two modes). Every float
/// operator is a composition of differentiable engine ops, so a graph is differentiable to any
/// order like the zoo's layers; every shape is checked before an op runs.

/// The values feeding one node, with typed access and one-line errors naming the node.
struct NodeInputs {
  let values: [GraphValue?]
  let label: String

  var count: Int { values.count }

  func value(_ i: Int) throws -> GraphValue {
    guard i < values.count, let v = values[i] else { throw GraphError("\(label): input \(i) is missing") }
    return v
  }

  func optional(_ i: Int) -> GraphValue? { i < values.count ? values[i] : nil }

  /// A float input's shape.
  func floatShape(_ i: Int) throws -> [Int] {
    guard let s = try value(i).floatShape else { throw GraphError("\(label): input \(i) must be a float tensor") }
    return s
  }

  /// An integer input.
  func ints(_ i: Int) throws -> IntTensor {
    guard case .ints(let t) = try value(i) else {
      throw GraphError("\(label): input \(i) must be an integer tensor known when the graph is built (shapes, axes)")
    }
    return t
  }

  func optionalInts(_ i: Int) throws -> IntTensor? { optional(i) == nil ? nil : try ints(i) }

  /// The tensors of inputs `indices` when running (nil when checking or for an omitted input).
  func tensor(_ i: Int) -> Tensor? {
    if case .tensor(let t)? = optional(i) { return t }
    return nil
  }
}

/// Builds a float result: the tensor `run()` when running (`running`), its shape otherwise.
private func floatResult(_ shape: [Int], _ label: String, running: Bool, _ run: () -> Tensor) throws -> GraphValue {
  let count = try checkedElementCount(shape, label)
  guard running else {
    guard count <= graphMaximumCheckedActivation else {
      throw GraphError("\(label): output of shape \(shape) has more than 2^27 values")
    }
    return .shape(shape)
  }
  let t = run()
  precondition(t.shape == shape, "\(label): computed shape \(t.shape), expected \(shape)")
  return .tensor(t)
}

/// Axes (possibly negative) normalised for `rank`, refused when repeated.
private func axisList(_ axes: [Int], rank: Int, _ label: String) throws -> [Int] {
  let list = try axes.map { try normalizedGraphAxis($0, rank: rank, label) }
  guard Set(list).count == list.count else { throw GraphError("\(label): axes \(axes) repeat an axis") }
  return list.sorted()
}

/// A rank-1 integer list (e.g. a shape or axes input).
private func intList(_ t: IntTensor, _ what: String, _ label: String) throws -> [Int] {
  guard t.shape.count <= 1 else { throw GraphError("\(label): \(what) must be a list of integers, got shape \(t.shape)") }
  return t.values
}

/// The scalar value of a bound input (Clip, Pad value).
private func scalarBound(_ inputs: NodeInputs, _ i: Int, running: Bool, default def: Float) throws -> Float {
  guard let v = inputs.optional(i) else { return def }
  switch v {
  case .ints(let t):
    guard t.values.count == 1 else { throw GraphError("\(inputs.label): input \(i) must hold one value") }
    return Float(t.values[0])
  case .shape, .tensor:
    let s = v.anyShape
    guard s.reduce(1, *) == 1 else { throw GraphError("\(inputs.label): input \(i) must hold one value, has shape \(s)") }
    if case .tensor(let t) = v { return t.scalars[0] }
    return def
  }
}

extension GraphOperator {
  /// Evaluates the operator on `inputs`; `constant` is a ``constant(_:)`` operator's prebuilt
  /// tensor.
  func evaluate(_ inputs: NodeInputs, running: Bool, constant: Tensor?) throws -> GraphValue {
    let label = inputs.label
    func unary(_ f: (Tensor) -> Tensor) throws -> GraphValue {
      let s = try inputs.floatShape(0)
      return try floatResult(s, label, running: running) { f(inputs.tensor(0)!) }
    }
    switch self {
    case .conv(let window, let groups):
      let x = try inputs.floatShape(0), w = try inputs.floatShape(1)
      guard x.count == 4, w.count == 4 else { throw GraphError("\(label): needs a 4-D input and weight (2-D convolution), got \(x) and \(w)") }
      if let k = window.kernel, k != (w[2], w[3]) { throw GraphError("\(label): kernel_shape \(k) differs from the weight's \(w)") }
      guard w[0] % groups == 0, x[1] == w[1] * groups else {
        throw GraphError("\(label): input \(x) does not fit weight \(w) with \(groups) group(s)")
      }
      let bias = inputs.optional(2) == nil ? nil : try inputs.floatShape(2)
      if let bias, bias != [w[0]] { throw GraphError("\(label): bias shape \(bias) is not [\(w[0])]") }
      let g = try window.geometry(h: x[2], w: x[3], kernel: (w[2], w[3]), label)
      let (oh, ow) = g.outputSize(h: x[2], w: x[3])!
      return try floatResult([x[0], w[0], oh, ow], label, running: running) {
        let y = Tensor.conv2d(inputs.tensor(0)!, inputs.tensor(1)!, geometry: g, groups: groups)
        return inputs.tensor(2).map { y + $0.reshaped([1, w[0], 1, 1]) } ?? y
      }

    case .batchNorm(let epsilon):
      let x = try inputs.floatShape(0)
      guard x.count >= 2 else { throw GraphError("\(label): input \(x) has no channel axis") }
      for i in 1...4 where try inputs.floatShape(i) != [x[1]] {
        throw GraphError("\(label): input \(i) has shape \(try inputs.floatShape(i)), needs [\(x[1])]")
      }
      return try floatResult(x, label, running: running) {
        let s = [1, x[1]] + [Int](repeating: 1, count: x.count - 2)
        let scale = inputs.tensor(1)! / (inputs.tensor(4)! + epsilon).sqrt()
        let shift = inputs.tensor(2)! - inputs.tensor(3)! * scale
        return inputs.tensor(0)! * scale.reshaped(s) + shift.reshaped(s)
      }

    case .relu: return try unary { $0.relu() }
    case .leakyRelu(let alpha): return try unary { x in x.relu() + (x - x.relu()) * alpha }
    case .sigmoid: return try unary { $0.sigmoid() }
    case .tanh: return try unary { $0.tanh() }
    case .hardSigmoid(let alpha, let beta): return try unary { ($0 * alpha + beta).clamped(0, 1) }
    case .hardSwish: return try unary { x in x * (x * (1 / Float(6)) + 0.5).clamped(0, 1) }
    case .clip(let low, let high):
      let lo = try low ?? scalarBound(inputs, 1, running: running, default: -.greatestFiniteMagnitude)
      let hi = try high ?? scalarBound(inputs, 2, running: running, default: .greatestFiniteMagnitude)
      return try unary { $0.clamped(lo, hi) }

    case .binary(let kind):
      let a = try inputs.value(0), b = try inputs.value(1)
      if case .ints(let x) = a, case .ints(let y) = b { return .ints(try integerBinary(kind, x, y, label)) }
      guard let sa = a.floatShape, let sb = b.floatShape else {
        throw GraphError("\(label): mixes a float tensor with integers")
      }
      guard let s = broadcastShape(sa, sb) else { throw GraphError("\(label): shapes \(sa) and \(sb) do not broadcast") }
      return try floatResult(s, label, running: running) {
        let (x, y) = (inputs.tensor(0)!, inputs.tensor(1)!)
        switch kind {
        case .add: return x + y
        case .sub: return x - y
        case .mul: return x * y
        case .div: return x / y
        }
      }

    case .maxPool(let window), .averagePool(let window, _):
      let x = try inputs.floatShape(0)
      guard x.count == 4 else { throw GraphError("\(label): needs a 4-D input, got \(x)") }
      let g = try window.geometry(h: x[2], w: x[3], kernel: window.kernel!, label)
      let (oh, ow) = g.outputSize(h: x[2], w: x[3])!
      guard case .averagePool(_, let includePad) = self else {
        return try floatResult([x[0], x[1], oh, ow], label, running: running) { inputs.tensor(0)!.maxPool2d(geometry: g) }
      }
      if includePad, window.ceilMode {
        throw GraphError("\(label): ceil_mode with count_include_pad is not supported")
      }
      return try floatResult([x[0], x[1], oh, ow], label, running: running) {
        let ones = Tensor(repeating: 1, shape: [x[1], 1, g.kh, g.kw])
        let sums = Tensor.conv2d(inputs.tensor(0)!, ones, geometry: g, groups: x[1])
        return sums / averagePoolCounts(g, h: x[2], w: x[3], outH: oh, outW: ow, includePad: includePad)
      }

    case .globalAveragePool:
      let x = try inputs.floatShape(0)
      guard x.count >= 3 else { throw GraphError("\(label): needs spatial axes, got \(x)") }
      return try floatResult(Array(x[..<2]) + [Int](repeating: 1, count: x.count - 2), label, running: running) {
        inputs.tensor(0)!.mean(alongAxes: Array(2..<x.count), keepingDimensions: true)
      }

    case .reduceMean(let attributeAxes, let keep, let noop):
      let x = try inputs.floatShape(0)
      let raw = try attributeAxes ?? inputs.optionalInts(1).map { try intList($0, "axes", label) } ?? []
      if raw.isEmpty && noop { return try unary { $0 } }
      let axes = raw.isEmpty ? Array(0..<x.count) : try axisList(raw, rank: x.count, label)
      let out = keep ? x.enumerated().map { axes.contains($0.offset) ? 1 : $0.element } : x.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
      return try floatResult(out, label, running: running) { inputs.tensor(0)!.mean(alongAxes: axes, keepingDimensions: keep) }

    case .flatten(let axis):
      let s = try inputs.value(0).anyShape
      let a = axis < 0 ? axis + s.count : axis
      guard a >= 0, a <= s.count else { throw GraphError("\(label): axis \(axis) is out of range for rank \(s.count)") }
      return try reshapeValue(inputs.value(0), to: [s[..<a].reduce(1, *), s[a...].reduce(1, *)], label, running: running)

    case .reshape(let allowZero):
      let v = try inputs.value(0)
      let source = v.anyShape
      let requested = try intList(inputs.ints(1), "shape", label)
      var target: [Int] = []
      var inferred: Int?
      for (i, d) in requested.enumerated() {
        switch d {
        case -1:
          guard inferred == nil else { throw GraphError("\(label): shape \(requested) has more than one -1") }
          inferred = i
          target.append(1)
        case 0 where !allowZero:
          guard i < source.count else { throw GraphError("\(label): shape \(requested) copies a dimension the input \(source) lacks") }
          target.append(source[i])
        default:
          guard d >= 1 else { throw GraphError("\(label): shape \(requested) has a bad dimension \(d)") }
          target.append(d)
        }
      }
      let total = try checkedElementCount(source, label)
      let known = try checkedElementCount(target, label)
      if let i = inferred {
        guard known > 0, total % known == 0 else { throw GraphError("\(label): cannot reshape \(source) to \(requested)") }
        target[i] = total / known
      }
      guard try checkedElementCount(target, label) == total else {
        throw GraphError("\(label): cannot reshape \(source) (\(total) elements) to \(requested)")
      }
      return try reshapeValue(v, to: target, label, running: running)

    case .transpose(let permutation):
      let x = try inputs.value(0).anyShape
      let perm = permutation ?? Array((0..<x.count).reversed())
      guard perm.sorted() == Array(0..<x.count) else { throw GraphError("\(label): perm \(perm) is not a permutation of the axes of \(x)") }
      if case .ints(let t) = try inputs.value(0) {
        // Transposing is slicing with permuted strides: read output index by output index.
        let strides = contiguousStrides(t.shape)
        let out = perm.map { x[$0] }
        var values = [Int](repeating: 0, count: t.values.count)
        for flat in 0..<values.count {
          var rest = flat, offset = 0
          for d in stride(from: out.count - 1, through: 0, by: -1) {
            offset += (rest % out[d]) * strides[perm[d]]
            rest /= out[d]
          }
          values[flat] = t.values[offset]
        }
        return .ints(IntTensor(shape: out, values: values))
      }
      return try floatResult(perm.map { x[$0] }, label, running: running) { inputs.tensor(0)!.permuted(perm) }

    case .squeeze(let attributeAxes):
      let v = try inputs.value(0)
      let s = v.anyShape
      let raw = try attributeAxes ?? inputs.optionalInts(1).map { try intList($0, "axes", label) } ?? []
      let axes = raw.isEmpty ? s.indices.filter { s[$0] == 1 } : try axisList(raw, rank: s.count, label)
      guard axes.allSatisfy({ s[$0] == 1 }) else { throw GraphError("\(label): cannot squeeze axes \(raw) of shape \(s)") }
      return try reshapeValue(v, to: s.enumerated().filter { !axes.contains($0.offset) }.map(\.element), label, running: running)

    case .unsqueeze(let attributeAxes):
      let v = try inputs.value(0)
      let s = v.anyShape
      let raw = try attributeAxes ?? intList(inputs.ints(1), "axes", label)
      let axes = try axisList(raw, rank: s.count + raw.count, label)
      var out: [Int] = []
      var rest = s[...]
      for i in 0..<(s.count + raw.count) {
        if axes.contains(i) { out.append(1) } else { out.append(rest.removeFirst()) }
      }
      return try reshapeValue(v, to: out, label, running: running)

    case .gemm(let alpha, let beta, let ta, let tb):
      let a = try inputs.floatShape(0), b = try inputs.floatShape(1)
      guard a.count == 2, b.count == 2 else { throw GraphError("\(label): needs 2-D inputs, got \(a) and \(b)") }
      let (m, k) = ta ? (a[1], a[0]) : (a[0], a[1])
      let (k2, n) = tb ? (b[1], b[0]) : (b[0], b[1])
      guard k == k2 else { throw GraphError("\(label): inner dimensions differ: \(a) and \(b)") }
      if inputs.optional(2) != nil {
        let c = try inputs.floatShape(2)
        guard broadcastShape(c, [m, n]) == [m, n] else { throw GraphError("\(label): C of shape \(c) does not broadcast to [\(m), \(n)]") }
      }
      return try floatResult([m, n], label, running: running) {
        var y = Tensor.matmul(inputs.tensor(0)!, inputs.tensor(1)!, transposeA: ta, transposeB: tb)
        if alpha != 1 { y = y * alpha }
        if let c = inputs.tensor(2) { y = y + (beta == 1 ? c : c * beta) }
        return y
      }

    case .matMul:
      let a = try inputs.floatShape(0), b = try inputs.floatShape(1)
      guard a.count >= 2, b.count >= 2, a[a.count - 1] == b[b.count - 2] else {
        throw GraphError("\(label): shapes \(a) and \(b) do not multiply")
      }
      let (m, k, n) = (a[a.count - 2], a[a.count - 1], b[b.count - 1])
      if b.count == 2 {
        let lead = Array(a.dropLast(2))
        return try floatResult(lead + [m, n], label, running: running) {
          Tensor.matmul(inputs.tensor(0)!.reshaped([-1, k]), inputs.tensor(1)!).reshaped(lead + [m, n])
        }
      }
      guard a.count == b.count, a.dropLast(2) == b.dropLast(2) else {
        throw GraphError("\(label): batched shapes \(a) and \(b) must have the same leading axes")
      }
      let lead = Array(a.dropLast(2))
      return try floatResult(lead + [m, n], label, running: running) {
        Tensor.matmul(inputs.tensor(0)!.reshaped([-1, m, k]), inputs.tensor(1)!.reshaped([-1, k, n])).reshaped(lead + [m, n])
      }

    case .concat(let axis):
      let values = try (0..<inputs.count).map { try inputs.value($0) }
      guard let first = values.first else { throw GraphError("\(label): no inputs") }
      let rank = first.anyShape.count
      let a = try normalizedGraphAxis(axis, rank: rank, label)
      var out = first.anyShape
      out[a] = 0
      for v in values {
        let s = v.anyShape
        guard s.count == rank, (0..<rank).allSatisfy({ $0 == a || s[$0] == first.anyShape[$0] }) else {
          throw GraphError("\(label): shape \(s) does not match \(first.anyShape) off axis \(a)")
        }
        out[a] += s[a]
      }
      if values.allSatisfy({ if case .ints = $0 { true } else { false } }) {
        let parts = values.map { if case .ints(let t) = $0 { t } else { fatalError() } }
        return .ints(try integerConcat(parts, axis: a, shape: out, label))
      }
      guard values.allSatisfy({ $0.floatShape != nil }) else { throw GraphError("\(label): mixes float and integer inputs") }
      return try floatResult(out, label, running: running) {
        Tensor.concatenate((0..<inputs.count).map { inputs.tensor($0)! }, alongAxis: a)
      }

    case .pad(let attributePads, let attributeValue):
      let x = try inputs.floatShape(0)
      let pads = try attributePads ?? intList(inputs.ints(1), "pads", label)
      let value = attributePads != nil ? attributeValue : try scalarBound(inputs, 2, running: running, default: 0)
      let axes = try inputs.optionalInts(3).map { try axisList(intList($0, "axes", label), rank: x.count, label) } ?? Array(0..<x.count)
      guard pads.count == 2 * axes.count, pads.allSatisfy({ $0 >= 0 && $0 <= 1 << 20 }) else {
        throw GraphError("\(label): pads \(pads.prefix(8)) are not \(2 * axes.count) non-negative widths")
      }
      var before = [Int](repeating: 0, count: x.count), after = before
      for (i, axis) in axes.enumerated() {
        before[axis] = pads[i]
        after[axis] = pads[i + axes.count]
      }
      return try floatResult((0..<x.count).map { x[$0] + before[$0] + after[$0] }, label, running: running) {
        inputs.tensor(0)!.padded(before: before, after: after, value: value)
      }

    case .softmax(let axis, let legacy):
      let x = try inputs.floatShape(0)
      let a = try normalizedGraphAxis(axis, rank: x.count, label)
      if legacy && a != x.count - 1 {
        return try unary { $0.reshaped([x[..<a].reduce(1, *), -1]).softmax(alongAxis: 1).reshaped(x) }
      }
      return try unary { $0.softmax(alongAxis: a) }

    case .identity:
      return try inputs.value(0)

    case .constant(let c):
      switch c {
      case .ints(let s, let v): return .ints(IntTensor(shape: s, values: v))
      case .floats(let s, _): return running ? .tensor(constant!) : .shape(s)
      }

    case .shape(let start, let end):
      let s = try inputs.value(0).anyShape
      func clamp(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + s.count : i, 0), s.count) }
      let lo = clamp(start), hi = Swift.max(lo, clamp(end ?? s.count))
      return .ints(IntTensor(shape: [hi - lo], values: Array(s[lo..<hi])))

    case .gather(let axis):
      guard case .ints(let data) = try inputs.value(0) else {
        throw GraphError("\(label): Gather on float tensors is not supported (only on shapes)")
      }
      return .ints(try integerGather(data, indices: inputs.ints(1), axis: axis, label))

    case .cast(let to):
      let v = try inputs.value(0)
      let toFloat = [1, 10, 11].contains(to)
      switch v {
      case .ints(let t) where toFloat:
        let values = t.values.map(Float.init)
        return try floatResult(t.shape, label, running: running) { Tensor(shape: t.shape, scalars: values) }
      case .ints: return v
      default:
        guard toFloat else { throw GraphError("\(label): casting a float tensor to integers is not supported") }
        return v
      }

    case .slice(let attributeStarts, let attributeEnds, let attributeAxes):
      let v = try inputs.value(0)
      let s = v.anyShape
      let starts = try attributeStarts ?? intList(inputs.ints(1), "starts", label)
      let ends = try attributeEnds ?? intList(inputs.ints(2), "ends", label)
      let axes = try attributeStarts != nil
        ? (attributeAxes ?? Array(0..<starts.count))
        : (inputs.optionalInts(3).map { try intList($0, "axes", label) } ?? Array(0..<starts.count))
      let steps = try attributeStarts != nil
        ? [Int](repeating: 1, count: starts.count)
        : (inputs.optionalInts(4).map { try intList($0, "steps", label) } ?? [Int](repeating: 1, count: starts.count))
      guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
        throw GraphError("\(label): starts, ends, axes and steps differ in length")
      }
      _ = try axisList(axes, rank: s.count, label)
      var first = [Int](repeating: 0, count: s.count), step = [Int](repeating: 1, count: s.count), out = s
      for (i, axis) in axes.enumerated() {
        let a = try normalizedGraphAxis(axis, rank: s.count, label)
        let dim = s[a], st = steps[i]
        guard st != 0, st != Int.min else { throw GraphError("\(label): step \(st) is not allowed") }
        var start = starts[i] < 0 ? starts[i] + dim : starts[i]
        var end = ends[i] < 0 ? ends[i] + dim : ends[i]
        let count: Int
        if st > 0 {
          start = Swift.min(Swift.max(start, 0), dim)
          end = Swift.min(Swift.max(end, 0), dim)
          count = end > start ? (end - start - 1) / st + 1 : 0
        } else {
          start = Swift.min(Swift.max(start, 0), dim - 1)
          end = Swift.min(Swift.max(end, -1), dim - 1)
          count = start > end ? (start - end - 1) / -st + 1 : 0
        }
        guard count > 0 else { throw GraphError("\(label): the slice of axis \(a) is empty") }
        (first[a], step[a], out[a]) = (start, st, count)
      }
      if case .ints(let t) = v { return .ints(integerSlice(t, first: first, step: step, shape: out)) }
      guard step.allSatisfy({ $0 == 1 }) else { throw GraphError("\(label): steps other than 1 on float tensors are not supported") }
      return try floatResult(out, label, running: running) {
        inputs.tensor(0)!.slice(lower: first, upper: (0..<s.count).map { first[$0] + out[$0] })
      }

    case .constantOfShape(let value):
      let shape = try intList(inputs.ints(0), "shape", label)
      switch value {
      case .ints(_, let v): return .ints(IntTensor(shape: shape, values: [Int](repeating: v[0], count: try checkedIntegerCount(shape, label))))
      case .floats(_, let v): return try floatResult(shape, label, running: running) { Tensor(repeating: v[0], shape: shape) }
      }
    }
  }
}

/// A float or integer value with a new shape of the same element count.
private func reshapeValue(_ v: GraphValue, to shape: [Int], _ label: String, running: Bool) throws -> GraphValue {
  switch v {
  case .ints(let t):
    guard shape.reduce(1, *) == t.values.count else { throw GraphError("\(label): cannot reshape \(t.shape) to \(shape)") }
    return .ints(IntTensor(shape: shape, values: t.values))
  case .shape, .tensor:
    return try floatResult(shape, label, running: running) {
      if case .tensor(let t) = v { return t.reshaped(shape) }
      fatalError("unreachable")
    }
  }
}

/// The number of input positions (or of all window positions, `includePad`) under each output
/// position of an average pooling, as a constant `[1, 1, outH, outW]` tensor.
private func averagePoolCounts(_ g: ConvGeometry, h: Int, w: Int, outH: Int, outW: Int, includePad: Bool) -> Tensor {
  var counts = [Float](repeating: 0, count: outH * outW)
  for y in 0..<outH {
    let top = y * g.strideH - g.padTop
    let rows = includePad
      ? Swift.min(top + g.kh, h + g.padBottom) - Swift.max(top, -g.padTop)
      : Swift.min(top + g.kh, h) - Swift.max(top, 0)
    for x in 0..<outW {
      let left = x * g.strideW - g.padLeft
      let cols = includePad
        ? Swift.min(left + g.kw, w + g.padRight) - Swift.max(left, -g.padLeft)
        : Swift.min(left + g.kw, w) - Swift.max(left, 0)
      counts[y * outW + x] = Float(Swift.max(rows, 1) * Swift.max(cols, 1))
    }
  }
  return Tensor(shape: [1, 1, outH, outW], scalars: counts)
}

// MARK: Integer shape arithmetic

private func integerBinary(_ kind: BinaryKind, _ a: IntTensor, _ b: IntTensor, _ label: String) throws -> IntTensor {
  guard let shape = broadcastShape(a.shape, b.shape) else { throw GraphError("\(label): shapes \(a.shape) and \(b.shape) do not broadcast") }
  guard a.values.count == 1 || b.values.count == 1 || a.shape == b.shape else {
    throw GraphError("\(label): integer broadcasting beyond scalars is not supported (\(a.shape), \(b.shape))")
  }
  let n = try checkedIntegerCount(shape, label)
  var out = [Int](repeating: 0, count: n)
  for i in 0..<n {
    let x = a.values[a.values.count == 1 ? 0 : i], y = b.values[b.values.count == 1 ? 0 : i]
    let (r, overflow): (Int, Bool)
    switch kind {
    case .add: (r, overflow) = x.addingReportingOverflow(y)
    case .sub: (r, overflow) = x.subtractingReportingOverflow(y)
    case .mul: (r, overflow) = x.multipliedReportingOverflow(by: y)
    case .div:
      guard y != 0 else { throw GraphError("\(label): integer division by zero") }
      (r, overflow) = x.dividedReportingOverflow(by: y)
    }
    guard !overflow else { throw GraphError("\(label): integer overflow") }
    out[i] = r
  }
  return IntTensor(shape: shape, values: out)
}

private func integerConcat(_ parts: [IntTensor], axis: Int, shape: [Int], _ label: String) throws -> IntTensor {
  let outer = shape[..<axis].reduce(1, *)
  var out: [Int] = []
  out.reserveCapacity(try checkedIntegerCount(shape, label))
  for o in 0..<outer {
    for p in parts {
      let inner = p.shape[axis...].reduce(1, *)
      out += p.values[(o * inner)..<((o + 1) * inner)]
    }
  }
  return IntTensor(shape: shape, values: out)
}

private func integerGather(_ data: IntTensor, indices: IntTensor, axis: Int, _ label: String) throws -> IntTensor {
  let a = try normalizedGraphAxis(axis, rank: data.shape.count, label)
  let dim = data.shape[a]
  let outer = data.shape[..<a].reduce(1, *), inner = data.shape[(a + 1)...].reduce(1, *)
  let shape = Array(data.shape[..<a]) + indices.shape + Array(data.shape[(a + 1)...])
  var out: [Int] = []
  out.reserveCapacity(try checkedIntegerCount(shape, label))
  for o in 0..<outer {
    for raw in indices.values {
      let i = raw < 0 ? raw + dim : raw
      guard i >= 0, i < dim else { throw GraphError("\(label): index \(raw) is out of range for axis of size \(dim)") }
      out += data.values[((o * dim + i) * inner)..<((o * dim + i + 1) * inner)]
    }
  }
  return IntTensor(shape: shape, values: out)
}

private func integerSlice(_ t: IntTensor, first: [Int], step: [Int], shape: [Int]) -> IntTensor {
  let strides = contiguousStrides(t.shape)
  let n = shape.reduce(1, *)
  var out = [Int](repeating: 0, count: n)
  for flat in 0..<n {
    var rest = flat, offset = 0
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      offset += (first[d] + (rest % shape[d]) * step[d]) * strides[d]
      rest /= shape[d]
    }
    out[flat] = t.values[offset]
  }
  return IntTensor(shape: shape, values: out)
}
