import Foundation

/// The functions that the elementwise and reduction kernels (StridedLoop.swift) apply, one type
/// each. A kernel generic over its function is specialised per type, so its loops call the
/// function inline and vectorise; with a closure argument they paid an indirect call per element
/// (a third of an EfficientNet-Lite0 fine-tuning step went to BatchNorm's and ReLU6's closures).
protocol BinaryElementFunction {
  func callAsFunction(_ a: Float, _ b: Float) -> Float
}

/// A function of one element (see ``BinaryElementFunction``).
protocol UnaryElementFunction {
  func callAsFunction(_ x: Float) -> Float
}

enum ElementFunction {
  struct Add: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b }
  }
  /// `relu(a + b)`: the sum rounded, then the ReLU.
  struct AddReLU: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { let v = a + b; return v > 0 ? v : 0 }
  }
  struct Subtract: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b }
  }
  struct Multiply: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b }
  }
  struct Divide: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b }
  }
  struct Maximum: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { Swift.max(a, b) }
  }
  /// 1 where `holds(a, b)`, else 0.
  struct Comparison: BinaryElementFunction {
    enum Kind { case greater, greaterOrEqual, less, equal }
    let kind: Kind
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float {
      switch kind {
      case .greater: a > b ? 1 : 0
      case .greaterOrEqual: a >= b ? 1 : 0
      case .less: a < b ? 1 : 0
      case .equal: a == b ? 1 : 0
      }
    }
  }

  struct Negate: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { -x }
  }
  struct ReLU: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 }
  }
  struct ReLU6: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.min(Swift.max(x, 0), 6) }
  }
  /// `log(1 + e^(beta x)) / beta`, computed stably.
  struct Softplus: UnaryElementFunction {
    let beta: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
      let z = beta * x
      return (Swift.max(z, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(z)))) / beta
    }
  }
  struct Exp: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.exp(x) }
  }
  struct Log: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.log(x) }
  }
  struct SquareRoot: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() }
  }
  struct Power: UnaryElementFunction {
    let exponent: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.pow(x, exponent) }
  }
  struct Absolute: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.abs(x) }
  }
  struct Sign: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
  }
  struct Tanh: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.tanh(x) }
  }
  /// `1 / (1 + e^-x)`, without overflow for large |x|.
  struct Sigmoid: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
      x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
    }
  }
}
