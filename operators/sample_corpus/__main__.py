"""``python -m operators.sample_corpus OUT --docs N --seed S``."""

from operators.sample_corpus import main

main()
