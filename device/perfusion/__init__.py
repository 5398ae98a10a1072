"""Perfusion bullseye analysis (patent 000): short-axis stack -> 17-segment polar map, territories, report."""
