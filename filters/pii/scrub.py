"""Scrubbing: each finding's replacement text by its type's mode; surrogates consistent per salted hash."""

from __future__ import annotations

from filters.pii.detect import SECRET_TYPES, TAGS


class Scrubber:
    """Turns findings into replacement text by each type's mode; surrogates are consistent per salted hash."""

    def __init__(self, config):  # a PiiConfig
        self.config = config
        self._surrogates: dict[tuple[str, str], str] = {}
        self._fake = None

    def replacement(self, entity: str, value: str, digest: str) -> str:
        mode = self.config.mode_of(entity)
        tag = TAGS[entity]
        if mode == "hash":
            return f"<{tag}:{digest[:12]}>"
        if mode == "surrogate" and entity not in SECRET_TYPES:
            key = (entity, digest)
            fake = self._surrogates.get(key)
            if fake is None:
                if len(self._surrogates) >= 100_000:  # bounded memory: surrogates are re-derivable from the hash
                    self._surrogates.clear()
                fake = self._surrogates[key] = self._make_surrogate(entity, digest)
            return fake
        return f"<{tag}>"

    def _make_surrogate(self, entity: str, digest: str) -> str:
        if self._fake is None:
            from faker import Faker

            self._fake = Faker("en_US")
        fake = self._fake
        # Seeded from the salted hash: the same value gets the same fake in every worker and run.
        fake.seed_instance(int(digest[:16], 16))
        makers = {
            # RFC 2606's .invalid: never a real mailbox, and not taken for one by the residual-PII gate.
            "EMAIL_ADDRESS": lambda: f"{fake.user_name()}@{fake.domain_word()}.invalid",
            "PHONE_NUMBER": lambda: f"+1-555-01{fake.numerify('##')}",  # NANP's fictional range
            "CREDIT_CARD": fake.credit_card_number,
            "IBAN_CODE": fake.iban,
            "IP_ADDRESS": lambda: f"192.0.2.{fake.random_int(1, 254)}",  # TEST-NET-1: documentation addresses
            "URL": lambda: f"https://www.example.{fake.random_element(('com', 'org', 'net'))}/{fake.uri_path()}",
            "US_SSN": fake.ssn,
            "PERSON": fake.name,
            "LOCATION": fake.city,
            "DATE_TIME": lambda: fake.date(),
        }
        return makers[entity]()
