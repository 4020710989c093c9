/// The explanation methods of docs/METHODS.md §2, their options and their errors.

/// An explanation method (Heo et al. 2019, Dombrowski et al. 2019), by the short name used on the
/// command line and in reports.
///
/// "_T" variants (``simpleGradTarget``, ``lrpTarget``) and ``gradCAM`` explain at a *target layer*
/// (the input activation of a named layer, `[N, C, h, w]`); the others explain at the input.
public enum ExplanationMethod: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
  /// `|d logit_c / d A|` at the target layer; channel sum, min-max.
  case simpleGradTarget = "simplegrad_t"
  /// `|d logit_c / d x|`; channel sum, divided by the image's sum.
  case simpleGrad = "simplegrad"
  /// `x * d logit_c / d x`; abs, channel sum, sum-normalised.
  case gradTimesInput = "gradxinput"
  /// Grad-CAM (Selvaraju et al. 2017) at the target layer; divided by its max.
  case gradCAM = "gradcam"
  /// LRP down to the input of the target layer; channel sum, ReLU, min-max.
  case lrpTarget = "lrp_t"
  /// LRP down to the input; channel sum.
  case lrp = "lrp"
  /// SmoothGrad (Smilkov et al. 2017): mean `|gradient|` over noisy copies; as SimpleGrad.
  case smoothGrad = "smoothgrad"
  /// Integrated Gradients (Sundararajan et al. 2017), zero baseline, times input; as Grad x Input.
  case integratedGradients = "ig"
  /// KernelSHAP (Lundberg & Lee 2017) of tabular rows: Shapley values of the feature groups over a
  /// background (docs/METHODS.md §2.11); signed, unnormalised.
  case kernelSHAP = "kernelshap"
  /// LIME (Ribeiro et al. 2016), the `lime` package's defaults: ridge coefficients of the feature
  /// groups of tabular rows, or of the SLIC superpixels of images (docs/METHODS.md §2.12);
  /// signed, unnormalised.
  case lime = "lime"
  /// Occlusion (Zeiler & Fergus 2014) of images: the mean drop of the class logit over the
  /// sliding patches that cover a pixel (docs/METHODS.md §2.13); signed, unnormalised.
  case occlusion = "occlusion"

  /// Parses a method name (case-insensitive; `-` and `_` are interchangeable).
  ///
  /// - Throws: ``ExplanationError`` listing the valid names.
  public init(parsing name: String) throws {
    let key = name.lowercased().replacingOccurrences(of: "-", with: "_")
    guard let m = ExplanationMethod(rawValue: key) else {
      throw ExplanationError(
        "unknown explanation method '\(name)' (valid: \(ExplanationMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    self = m
  }

  /// True for the black-box methods (KernelSHAP, LIME), which probe the model with perturbed
  /// inputs; on tabular rows they need reference rows (``Model/explanationReference``).
  public var isBlackBox: Bool { self == .kernelSHAP || self == .lime }

  /// True for the methods that explain at a target layer and need a spatial `[N, C, h, w]`
  /// activation there.
  public var needsTargetLayer: Bool { self == .simpleGradTarget || self == .gradCAM || self == .lrpTarget }

  /// True when an input attack on this method explains a smooth surrogate of the network (every
  /// ReLU replaced by `softplus(beta)` with growing beta, max-pool by a smooth max); false for LRP
  /// and LRP_T, whose attacks keep the exact ReLU network ("LRP ignores beta").
  ///
  /// Gradient maps of a ReLU network have a zero input-derivative almost everywhere (ReLU's second
  /// derivative is zero), so attacking them needs the smoothing of Dombrowski et al. (2019). LRP's
  /// rules pass relevance through activations unchanged and depend on the input through the
  /// recorded activations themselves (`x * T(R / z)`), so their maps are differentiable without it.
  /// ``ExplanationOptions/beta`` still applies to every method when set explicitly (the
  /// beta-smoothing defence evaluates LRP on the smoothed network too).
  public var usesBetaSmoothing: Bool { self != .lrp && self != .lrpTarget }

  public var description: String { rawValue }
}

/// Which class's logit an explanation explains.
public enum ExplainedClass: String, Codable, Sendable, CaseIterable {
  /// The labels passed in (the true labels; the default of docs/METHODS.md §1).
  case label
  /// The model's arg-max prediction on the (clean) input.
  case predicted
}

/// Options shared by all explanation methods; the defaults are those of docs/METHODS.md §2.
public struct ExplanationOptions: Sendable {
  /// The class whose pre-softmax logit is explained.
  public var explainedClass: ExplainedClass = .label
  /// Target layer for Grad-CAM and the "_T" methods (its *input* is explained); `nil` means
  /// ``Model/targetLayer``.
  public var layer: String? = nil
  /// LRP rules per layer kind, and canonisation (see ``LRPComposite``).
  public var lrp: LRPComposite = .heo
  /// SmoothGrad: number of noisy copies (16).
  public var smoothGradSamples = 16
  /// SmoothGrad: noise standard deviation in normalised-input units (0.1): when the model starts
  /// with a ``Normalize`` layer the noise added to the raw input is `sigma * std_c` per channel.
  public var smoothGradSigma: Float = 0.1
  /// Seed of the SmoothGrad noise.
  public var seed: UInt64 = 0
  /// Integrated Gradients: Riemann steps `k / m`, `k = 1 ... m` (16, Heo; Dombrowski uses 30).
  public var integratedGradientsSteps = 16
  /// Apply the post-processing of docs/METHODS.md §2.10 (see ``Heatmap/postProcess(_:method:)``); when false the
  /// raw map is returned.
  public var postProcess = true
  /// When set, every ReLU of the model is replaced by `softplus(beta)` for the explanation
  /// (Dombrowski et al.'s beta smoothing) and restored afterwards.
  public var beta: Float? = nil
  /// Record the explanation's graph so that it can be differentiated again (w.r.t. the weights,
  /// and w.r.t. the input when `x` is a graph tensor). False is faster and returns constants.
  public var createGraph = true
  /// Upper bound on the rows of one internal forward pass (SmoothGrad and Integrated Gradients
  /// batch their copies in chunks of at most this many rows, but at least one copy of the batch).
  public var chunkRows = 256
  /// Options of the black-box methods (KernelSHAP, LIME): background, output, design sizes.
  public var blackBox = BlackBoxOptions()
  /// Occlusion: side of the square patch in pixels; nil: a seventh of the shorter image side (at
  /// least 1; 4 at 28 pixels, 32 at 224).
  public var occlusionPatch: Int? = nil
  /// Occlusion: step between patch positions in pixels; nil: half the patch (at least 1).
  public var occlusionStride: Int? = nil
  /// Occlusion: value the patch is filled with, in input units (0).
  public var occlusionFill: Float = 0
  /// Image LIME: about this many SLIC superpixels (``SLIC``); nil: 50, at most one per 16 pixels.
  public var limeSegments: Int? = nil
  /// Image LIME: value a hidden superpixel takes, in input units; nil: its mean colour (the
  /// `lime` package's `hide_color=None`).
  public var limeFill: Float? = nil

  /// The defaults.
  public init() {}
}

/// A one-line error from an explanation: unknown method, missing or non-spatial layer, bad labels.
public struct ExplanationError: SettingsError, Sendable, Equatable {
  /// The message, one line.
  public let message: String
  public let settings: [String]
  /// An error with the given message, about `settings` (``SettingsError``).
  public init(_ message: String, settings: [String] = []) {
    self.message = message
    self.settings = settings
  }
  public var description: String { message }
}
