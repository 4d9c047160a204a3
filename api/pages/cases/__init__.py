"""The pages of one case and of making one: the case page (``case_page``, built by ``case_view``,
its state diagram by ``diagram``), the action forms (``actions``) and new cases (``new_case``) drawn
from the machine's field specs by ``forms``, the pickers they search with (``pickers``), and the
evidence uploads and files (``evidence``)."""
