"""Making masks from the photo itself: a box or clicks around an object (GrabCut), similar colours
(the magic wand), edges followed between clicks (the magnetic lasso).

Qt-free and weight-free: OpenCV only. Each function returns a uint8 mask (255 = selected) of the
photo's size; adding it to or taking it from the document's mask is the caller's one undo step.
"""
