//! The command line's value enums: the choices `--split`, `--symmetry`, `--patch-step` and
//! `--inpaint-start` take, each mapped onto the library's own type.

use gmm_zoo::datasets::bsds300::Augment;

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum SplitArg {
    Train,
    Test,
    /// The validation rows of `[data] n_valid`
    Valid,
}

/// The symmetry group a model is averaged over (`--symmetry`).
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum SymmetryArg {
    /// The model as trained
    None,
    /// The patch and its left–right mirror image
    Mirror,
    /// The square's eight symmetries
    Dihedral,
}

impl SymmetryArg {
    /// The group, as the data crate names it.
    pub(crate) fn group(self) -> Augment {
        match self {
            SymmetryArg::None => Augment::None,
            SymmetryArg::Mirror => Augment::Mirror,
            SymmetryArg::Dihedral => Augment::Dihedral,
        }
    }
}

/// The patch step's estimate.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum PatchStepArg {
    /// The Wiener estimate under the patch's most likely component (EPLL's)
    MostLikely,
    /// The posterior-weighted Wiener estimates of every component
    Posterior,
}

/// Where an inpainting's missing pixels start (`--inpaint-start`).
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum InpaintStartArg {
    /// Each patch's conditional mean given its known pixels under the prior, averaged
    Conditional,
    /// The Gaussian-weighted mean of the known pixels around each
    Fill,
}
