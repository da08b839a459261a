"""Context providers: whatever builds a reader's context, behind one interface (`base.py`)."""
