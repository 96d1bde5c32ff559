"""ntkgd: the NTK theory of gradient descent (Du et al., ICML 2019), made computable.

The public API is re-exported here; implementation lives in private modules.
"""

import os as _os

# OpenBLAS's worker threads spin after every call before they sleep; on a loaded machine (two
# cores, another process busy) they take the cores from the calls that follow, and NumPy and
# SciPy each bundle their own OpenBLAS, whose pools then compete. Letting them sleep at once was
# measured neutral when quiet and up to 4x faster under load (docs/design.md, "Threads"). It
# takes effect only for an OpenBLAS loaded after this line, and never overrides the user's choice.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .specs._activations import ACTIVATION_NAMES as ACTIVATION_NAMES
from .specs._activations import Activation as Activation
from .specs._activations import activation as activation
from .analytic._api import Backend as Backend
from .analytic._api import analytic_gram as analytic_gram
from .data._loaders import Dataset as Dataset
from .data._loaders import load_data as load_data
from .finite._training import train as train
from .finite._empirical import empirical_gram as empirical_gram
from .core._errors import DivergenceError as DivergenceError
from .core._errors import GramTooLargeError as GramTooLargeError
from .core._errors import UnsupportedBackendError as UnsupportedBackendError
from .analytic._gram import Gram as Gram
from .linalg._iterative import IterativeResult as IterativeResult
from .linalg._iterative import iterative_lambda_min as iterative_lambda_min
from .specs._architectures import ConvResNet as ConvResNet
from .specs._architectures import FullyConnected as FullyConnected
from .specs._architectures import ResNet as ResNet
from .specs._architectures import TwoLayer as TwoLayer
from .linalg._spectrum import SingularGramError as SingularGramError
from .linalg._spectrum import Spectrum as Spectrum
from .linalg._spectrum import inverse_quadratic_form as inverse_quadratic_form
from .linalg._spectrum import label_projections as label_projections
from .linalg._lambda_min import lambda_min as lambda_min
from .linalg._parallel import parallel_rows as parallel_rows
from .linalg._spectrum import spectrum as spectrum
from .finite._trajectory import Trajectory as Trajectory
from .predictions._predict import predict as predict
from .experiments._theory import TheoremQuantities as TheoremQuantities
from .experiments._theory import theorem_quantities as theorem_quantities
from .analytic._tiled import GramOperator as GramOperator
from .analytic._tiled import IncompleteStoreError as IncompleteStoreError
from .analytic._tiled import open_gram_store as open_gram_store

__version__ = "0.1.0"
