"""drgn_maple.py - a task's VMAs walked from mm->mm_mt in drgn, as source text.

The drgn scripts of tests/integration/test_linux_files.py (the reference
kvmfs's maps are held against) and tools/bench/run.py (the drgn side of the
linux benchmark) run under /usr/bin/python3 -c, where python3-drgn is, and
splice MT_VMAS in: it defines mt_vmas(mm), the list of struct
vm_area_struct * in mm's maple tree in address order, and needs `prog`
(a drgn.Program) and drgn's `Object` among the script's globals.

The walk is lib/maple_tree.c's layout over the kernel's DWARF types, written
independently of kvmfs's (src/inspect/linux_vmas.c): enode type in bits
3-6, nodes 256-byte aligned, the data end as ma_data_end() finds it.
"""

MT_VMAS = r"""
def mt_vmas(mm):
    # mm->mm_mt as lib/maple_tree.c stores it: enode type in bits 3-6, nodes 256-aligned.
    out = []
    def walk(enode, mx, depth):
        assert depth < 16
        node = Object(prog, "struct maple_node", address=enode & ~0xff)
        kind = (enode >> 3) & 0xf
        if kind == 3:
            r, npiv = node.ma64, 9
            end = r.meta.end.value_()
        else:
            r, npiv = node.mr64, 15
            last = r.pivot[14].value_()
            end = r.meta.end.value_() if last == 0 else 14 if last == mx else 15
        for i in range(end + 1):
            s = r.slot[i].value_()
            if not s:
                continue
            if kind == 1:
                out.append(Object(prog, "struct vm_area_struct *", value=s))
            else:
                walk(s, r.pivot[i].value_() if i < npiv and i < end else mx, depth + 1)
    root = mm.mm_mt.ma_root.value_()
    if root & 3 == 2 and root > 4096:
        walk(root, 2**64 - 1, 0)
    return out
"""
