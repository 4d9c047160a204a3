"""约谈 records (issue 12 part 3, docs/interviews.md): ``services`` (open one from a 约谈通知书 or by
hand, record it held with attendees, minutes and commitments — each commitment a clock of its own
— and the 约谈记录 it issues; mark a commitment met), ``clock`` (the commitment ladder's own rung
effects: missed, 通报批评), ``reads`` (who sees what, lists, JSON) and ``hooks`` (the hook point
other modules — credit records — subscribe to: an interview held, a commitment missed)."""
