// hlm-course: figures of several panels stay readable on a phone. A cell's figure wider than it is tall by
// more than 1.6 : 1 gets a box of its own (CSS: .hlm-wide-figure, 560 px wide below 600 px, scrolling
// sideways), and every figure opens full size when tapped.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".bd-content div.cell_output img").forEach((img) => {
    const mark = () => {
      if (img.naturalWidth > 1.6 * img.naturalHeight && !img.closest(".hlm-wide-figure")) {
        const box = document.createElement("div");
        box.className = "hlm-wide-figure";
        img.parentNode.insertBefore(box, img);
        box.appendChild(img);
      }
      if (!img.closest("a")) {
        const link = document.createElement("a");
        link.href = img.currentSrc || img.src;
        link.title = "open the figure full size";
        img.parentNode.insertBefore(link, img);
        link.appendChild(img);
      }
    };
    if (img.complete && img.naturalWidth) mark();
    else img.addEventListener("load", mark, { once: true });
  });
});
